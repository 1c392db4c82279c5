"""The package's shape: what ``import optuna_rlnas`` exports and pulls in, rooms that need no
torch, and docs that state the code's defaults."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = {
    "RLNASSampler", "ControllerConfig", "UpdateConfig", "paper_reward", "layer_param",
    "skip_param", "parse_param_name", "Controller", "Decision", "Reinforce", "__version__",
    "ModelConfig", "recommended_trial",
}


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_exports_the_public_names_and_pulls_in_no_heavy_parts() -> None:
    out = _run(
        "import json, sys, optuna_rlnas\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning',"
        " 'plotly') or m.startswith('optuna_rlnas.child') or m == 'optuna_rlnas.dashboard']\n"
        "print(json.dumps({'all': optuna_rlnas.__all__, 'heavy': heavy,"
        " 'public': [n for n in dir(optuna_rlnas) if not n.startswith('_')]}))"
    )
    found = json.loads(out)
    assert set(found["all"]) == PUBLIC
    assert found["heavy"] == []
    modules = {"optuna_rlnas." + n for n in ("child", "storage", "dashboard", "cli")}
    assert set(found["public"]) - PUBLIC <= {m.split(".")[1] for m in modules}


def test_the_command_line_and_storage_start_without_torch() -> None:
    # `rlnas --help`, `rlnas dashboard` and the workers' storage helpers need no torch; the
    # sampler's names load it on first use (PEP 562), and then work as before.
    out = _run(
        "import json, sys, optuna_rlnas, optuna_rlnas.storage, optuna_rlnas.cli\n"
        "before = 'torch' in sys.modules\n"
        "sampler = optuna_rlnas.RLNASSampler(seed=0)\n"
        "print(json.dumps({'before': before, 'after': 'torch' in sys.modules,"
        " 'name': type(sampler).__module__}))"
    )
    assert json.loads(out) == {"before": False, "after": True, "name": "optuna_rlnas._sampler"}


def test_the_ledger_works_without_torch() -> None:
    # Which trials are consumed is plain Python: the ledger imports, and keeps count on a real
    # study, in a process where torch cannot be imported (and the package's __init__, which
    # imports the controller, is not run).
    out = _run(
        "import sys, types\n"
        "sys.modules['torch'] = None  # any import of torch raises ImportError\n"
        "package = types.ModuleType('optuna_rlnas')\n"
        "package.__path__ = ['optuna_rlnas']\n"
        "sys.modules['optuna_rlnas'] = package\n"
        "import optuna\n"
        "from optuna_rlnas._ledger import Ledger\n"
        "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
        "study = optuna.create_study()\n"
        "study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=5)\n"
        "running = study.ask()\n"
        "ledger = Ledger()\n"
        "ledger.consume(1)  # finished out of order: consumed before 0\n"
        "first = [t.number for t in ledger.unconsumed(study, before=running.number)]\n"
        "for n in first: ledger.consume(n)\n"
        "study.tell(running, 0.5)\n"
        "print(first, [t.number for t in ledger.unconsumed(study)], ledger.n_consumed,"
        " 'torch' in sys.modules and sys.modules['torch'] is not None)\n"
    )
    assert out.split() == ["[0,", "2,", "3,", "4]", "[5]", "5", "False"]


def test_the_reward_model_imports_neither_optuna_nor_the_sampler() -> None:
    # The model is a room of its own, testable on arrays: it imports and fits in a process where
    # Optuna cannot be imported, and pulls in none of the sampler's modules.
    out = _run(
        "import sys, types\n"
        "sys.modules['optuna'] = None  # any import of optuna raises ImportError\n"
        "package = types.ModuleType('optuna_rlnas')\n"
        "package.__path__ = ['optuna_rlnas']\n"
        "sys.modules['optuna_rlnas'] = package\n"
        "import numpy as np\n"
        "from optuna_rlnas._decision import Decision\n"
        "from optuna_rlnas._model import ModelConfig, ModelGuide\n"
        "guide = ModelGuide(ModelConfig(n_startup_trials=2), seed=0)\n"
        "guide.register('x', 3, ordered=True)\n"
        "for n, a in enumerate([0, 1, 2, 1]):\n"
        "    guide.observe([Decision('x', 3)], [a], float(a), n)\n"
        "print(guide.recommend(), sorted(m for m in sys.modules if m.startswith('optuna')))\n"
    )
    number, modules = out.split(" ", 1)
    assert number == "2"
    allowed = {"_model", "_decision", "_policy", "_controller", "_config", "_openmp"}
    assert {m.split(".")[1] for m in ast.literal_eval(modules) if "." in m} <= allowed


def test_docs_state_the_code_defaults() -> None:
    from optuna_rlnas import ControllerConfig
    from optuna_rlnas import UpdateConfig

    sampler_md = (ROOT / "docs" / "sampler.md").read_text()
    config = ControllerConfig()
    fields = ", ".join(f"{k}={getattr(config, k)!r}" for k in config.__dataclass_fields__)
    assert f"ControllerConfig({fields})" in sampler_md
    scale_out = (ROOT / "docs" / "scale-out.md").read_text()
    matches = list(re.finditer(r"default[^.]*?(\d+) trials per update", scale_out))
    assert matches
    for match in matches:
        assert int(match.group(1)) == UpdateConfig().trials_per_update, match.group(0)
    from optuna_rlnas import Controller

    assert "defaults are the paper's" not in (Controller.__doc__ or "")


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """The ``modules`` that ``path`` imports, at any depth of its code; ``from P import M`` with
    M a module imports M (P is initialised first whatever imports it)."""
    import ast

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found & modules - {module}


def test_no_import_cycle_inside_the_package() -> None:
    # Imports run one way (docs/how-it-works.md, "Map of the code"), function-level ones too.
    modules = {}
    for path in (ROOT / "optuna_rlnas").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {m: _imports(p, m, set(modules)) for m, p in modules.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
