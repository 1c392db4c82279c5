"""Fetch Optuna's own sampler tests from the release's source archive and aim them at us.

``python tests/optuna_release/prepare.py`` downloads the sdist of the installed Optuna version
from PyPI, takes ``tests/samplers_tests/test_samplers.py`` and writes
``tests/optuna_release/test_release_samplers.py`` (git-ignored) with every sampler list replaced
by ``RLNASSampler``. Exclusions, and why, are in ``EXCLUDED`` below and in docs/testing.md.

The rewrite works on the syntax tree (the node positions of the sampler lists), so a release that
moves those lists fails here loudly instead of silently testing Optuna's samplers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import optuna

HERE = Path(__file__).resolve().parent
TARGET = HERE / "test_release_samplers.py"

RLNAS = "lambda seed: RLNASSampler(seed=seed)"
# The paper's controller and update rule. Its reward, paper_reward, needs a maximising study of
# accuracies in [0, 1]; these suites minimise arbitrary values, so the reward follows the study's
# direction (reward_fn=None).
PAPER = "lambda seed: RLNASSampler.paper(seed=seed, reward_fn=None)"
MULTI = "lambda: RLNASSampler.paper(seed=0, reward_fn=lambda values: values[0] - values[1])"

# What replaces each list of samplers, keyed by where it stands.
REPLACEMENTS = {
    "sampler_class_with_seed": f'{{"RLNASSampler": {RLNAS}, "RLNASSampler.paper": {PAPER}}}',
    # The default sampler runs these suites in tests/test_sampler_suite.py; here the paper's.
    "TestBasicSampler": "[lambda: RLNASSampler.paper(seed=0, reward_fn=None)]",
    "TestMultiObjectiveSampler": f"[{MULTI}]",
    # reward_fn=None: without a reward_fn, multi-objective studies must raise.
    "TestSingleOnlySampler": "[lambda: RLNASSampler.paper(seed=0, reward_fn=None)]",
    # (factory, has a LazyRandomState, holds another sampler): the startup sampler.
    "test_sampler_reseed_rng": "[(lambda: RLNASSampler(seed=0), True, True)]",
}

# Tests of the release file that do not apply to RLNASSampler, with the reason.
EXCLUDED = {
    "TestRelativeSampler": "RLNASSampler samples define-by-run (sample_independent); it has no "
    "relative search space, so Optuna's relative-sampler suite does not apply.",
    "test_pickle_random_sampler": "tests RandomSampler only; our pickling is tested in "
    "tests/test_sampler.py::test_sampler_pickles_and_continues.",
    "test_sample_relative": "tests Optuna's FixedSampler and relative sampling machinery, not a "
    "sampler parametrisation.",
}


def _fetch_release_file(version: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"optuna=={version}", "-d", tmp],
            check=True,
        )
        (archive,) = Path(tmp).glob("optuna-*.tar.gz")
        with tarfile.open(archive) as tar:
            member = tar.getmember(f"optuna-{version}/tests/samplers_tests/test_samplers.py")
            extracted = tar.extractfile(member)
            assert extracted is not None
            return extracted.read().decode()


def _list_node(node: ast.AST, name: str) -> ast.AST:
    """The node of the sampler list that ``REPLACEMENTS[name]`` replaces."""
    if isinstance(node, ast.AnnAssign | ast.Assign):
        return node.value
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "sampler":
                (decorator,) = item.decorator_list
                (keyword,) = [k for k in decorator.keywords if k.arg == "params"]
                return keyword.value
    if isinstance(node, ast.FunctionDef):
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and len(decorator.args) == 2:
                return decorator.args[1]
    raise SystemExit(f"cannot find the sampler list of {name} in Optuna's test_samplers.py")


def rewrite(source: str) -> str:
    tree = ast.parse(source)
    edits = []  # (start, end, text) in character offsets
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    found = set()
    for node in tree.body:
        name = getattr(node, "name", None)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        if name in REPLACEMENTS:
            target = _list_node(node, name)
            text = REPLACEMENTS[name]
        elif name in EXCLUDED:
            target, text = node, ""
            reason = EXCLUDED[name].replace('"', "'")
            decorators = getattr(node, "decorator_list", [])
            start_line = decorators[0].lineno if decorators else node.lineno
            start = offsets[start_line - 1]
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            body = source[start:end]
            text = f'@pytest.mark.skip(reason="excluded for RLNASSampler: {reason}")\n{body}'
            edits.append((start, end, text))
            found.add(name)
            continue
        else:
            continue
        start = offsets[target.lineno - 1] + target.col_offset
        end = offsets[target.end_lineno - 1] + target.end_col_offset
        edits.append((start, end, text))
        found.add(name)
    missing = (set(REPLACEMENTS) | set(EXCLUDED)) - found
    if missing:
        raise SystemExit(f"Optuna's test_samplers.py no longer has {sorted(missing)}")
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    header = (
        f"# Generated by tests/optuna_release/prepare.py from optuna=={optuna.__version__}'s\n"
        "# tests/samplers_tests/test_samplers.py, with every sampler list replaced by\n"
        "# RLNASSampler. Do not edit; re-run the script.\n"
    )
    future = "from __future__ import annotations\n"
    source = source.replace(future, future + "\nfrom optuna_rlnas import RLNASSampler\n", 1)
    return header + source


def main() -> None:
    TARGET.write_text(rewrite(_fetch_release_file(optuna.__version__)))
    print(f"wrote {TARGET.relative_to(HERE.parent.parent)} from optuna=={optuna.__version__}")


if __name__ == "__main__":
    main()
