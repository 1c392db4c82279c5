"""Experiments on the model-guided controller (issue 11): configurations against TPE.

    nice -n 10 python -m benchmarks.model_experiments run --configs model plain \
        --problems tables synthetic-10 synthetic-50 --seeds 15 --trials 300
    python -m benchmarks.model_experiments report --configs model plain
    python -m benchmarks.model_experiments timing --configs model --problems nb201-cifar10 \
        --seeds 3 --trials 1000

A configuration is a name from :data:`PRESETS` or ``model[field=value,...]`` with fields of
:class:`optuna_rlnas.ModelConfig` (``prior.FIELD`` for :class:`Prior`'s, ``lr``/``pq`` for
the controller's learning rate and priority-queue weight). ``tpe`` is Optuna's TPE; its runs
are also read from ``--baseline`` (the runner's ``raw/PROBLEM/tpe/seedN.csv``) when there.

Each run is kept in ``OUT/PROBLEM/CONFIG/seedN.csv``: per trial the value, the regret of the
best observed trial (Optuna's ``best_trial``, the rule of ``benchmarks/run.py``), the key of
the child, whether the model picked it and whether it re-evaluated an earlier child, the sampler's
CPU and wall seconds; at checkpoints also the regret of the model's recommendation
(``RLNASSampler.recommended_trial``). ``report`` prints, per configuration and budget, the
geometric mean over problems of (mean regret / TPE's mean regret), noisy and noise-free
problems apart, and the count of problems where the mean regret is no higher than TPE's. Mean
regrets are floored at the problem's regret resolution divided by the number of seeds (one
seed off the optimum), so that a ratio of two zeros is 1.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from benchmarks.problems import expand_problems
from benchmarks.problems import get_problem
from benchmarks.timing import TimedSampler

CHECKPOINTS = (10, 25, 50, 100, 150, 200, 250, 300, 500, 1000)
BUDGETS = (100, 300)

PRESETS: dict[str, str] = {
    "plain": "the controller alone (the default before issue 11)",
    "model": "the model-guided controller, defaults",
    "tpe": "Optuna's TPESampler",
}


def make_sampler(config: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of a configuration name."""
    from optuna_rlnas import RLNASSampler
    from optuna_rlnas import UpdateConfig
    from optuna_rlnas._model import ModelConfig
    from optuna_rlnas._model import Prior

    if config == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if config == "plain":
        return RLNASSampler(seed=seed, model=None)
    name, _, rest = config.partition("[")
    if name != "model":
        raise ValueError(f"Unknown configuration {config!r}; use tpe, plain or model[...].")
    fields = _parse_fields(rest.rstrip("]"))
    prior = {k[len("prior.") :]: v for k, v in fields.items() if k.startswith("prior.")}
    update = {}
    if "lr" in fields:
        update["learning_rate"] = fields.pop("lr")
    if "pq" in fields:
        update["priority_queue_weight"] = fields.pop("pq")
    model = {k: v for k, v in fields.items() if not k.startswith("prior.")}
    if prior:
        model["prior"] = Prior(**prior)
    return RLNASSampler(
        seed=seed, model=ModelConfig(**model), update=UpdateConfig().replace(**update)
    )


def _parse_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        fields[key.strip()] = _literal(value.strip())
    return fields


def _literal(value: str) -> Any:
    if value in ("True", "False"):
        return value == "True"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


class _CpuTimedSampler(TimedSampler):
    """TimedSampler that also adds the process's CPU seconds of each hook (the machine is
    shared: wall time counts the other jobs too)."""

    def __init__(self, sampler: optuna.samplers.BaseSampler) -> None:
        super().__init__(sampler)
        self.cpu: dict[int, float] = {}

    def _timed(self, trial: optuna.trial.FrozenTrial, fn: Any, *args: Any) -> Any:
        start = time.process_time()
        try:
            return super()._timed(trial, fn, *args)
        finally:
            self.cpu[trial.number] = self.cpu.get(trial.number, 0.0) + (
                time.process_time() - start
            )


@dataclass(frozen=True)
class Job:
    problem: str
    config: str
    seed: int
    trials: int


def run_job(job: Job) -> pd.DataFrame:
    """One study; the frame of :data:`module docstring <benchmarks.model_experiments>`."""
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = get_problem(job.problem)
    inner = make_sampler(job.config, job.seed)
    sampler = _CpuTimedSampler(inner)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    recommended: dict[int, float] = {}

    def checkpoint(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number + 1 in CHECKPOINTS and hasattr(inner, "recommended_trial"):
            best = inner.recommended_trial(study)
            if best is not None and problem.optimum is not None:
                recommended[trial.number] = problem.optimum - problem.true_value(best.params)

    study.optimize(problem.make_objective(job.seed), n_trials=job.trials, callbacks=[checkpoint])
    rows, best = [], -math.inf
    regret = math.nan
    for trial in study.get_trials(deepcopy=False):
        if trial.value is not None and trial.value > best:
            best = trial.value
            regret = problem.optimum - problem.true_value(trial.params)
        record = trial.system_attrs.get("rlnas:trial", {})
        model = record.get("model") or {}
        rows.append({
            "trial": trial.number,
            "value": trial.value,
            "regret": regret,
            "recommended_regret": recommended.get(trial.number, math.nan),
            "key": problem.key(trial.params),
            "planned": bool(record.get("planned")),
            "reevaluates": model.get("reevaluates"),
            "sampler_cpu_s": sampler.cpu.get(trial.number, 0.0),
            "sampler_s": sampler.seconds.get(trial.number, 0.0),
        })
    return pd.DataFrame(rows)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=,[]" else "_" for c in name)


def run_path(out: str, job: Job) -> str:
    return os.path.join(out, _safe(job.problem), _safe(job.config), f"seed{job.seed}.csv")


def _run_and_save(args: tuple[Job, str]) -> tuple[Job, float]:
    job, out = args
    start = time.perf_counter()
    frame = run_job(job)
    path = run_path(out, job)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame.to_csv(path + ".tmp", index=False)
    os.replace(path + ".tmp", path)
    return job, time.perf_counter() - start


def run(jobs: list[Job], out: str, processes: int) -> None:
    todo = [j for j in jobs if not _done(run_path(out, j), j.trials)]
    print(f"{len(todo)} runs to do, {len(jobs) - len(todo)} kept", file=sys.stderr, flush=True)
    start = time.perf_counter()
    tasks = [(job, out) for job in todo]
    if processes > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            for i, (job, seconds) in enumerate(pool.imap_unordered(_run_and_save, tasks), 1):
                _progress(i, len(tasks), job, seconds, start)
    else:
        for i, task in enumerate(tasks, 1):
            job, seconds = _run_and_save(task)
            _progress(i, len(tasks), job, seconds, start)


def _done(path: str, trials: int) -> bool:
    return os.path.exists(path) and len(pd.read_csv(path, usecols=["trial"])) >= trials


def _progress(i: int, n: int, job: Job, seconds: float, start: float) -> None:
    print(
        f"[{i}/{n}] {job.problem} {job.config} seed {job.seed}: {seconds:.1f} s "
        f"(total {time.perf_counter() - start:.0f} s)",
        file=sys.stderr, flush=True,
    )


# ---------------------------------------------------------------------------------- report


def load_runs(
    out: str, problem: str, config: str, seeds: list[int], trials: int, baseline: str | None
) -> list[pd.DataFrame]:
    """The stored runs of a configuration on a problem (TPE: ours, else the runner's)."""
    frames = []
    for seed in seeds:
        path = run_path(out, Job(problem, config, seed, trials))
        if not _done(path, trials) and config == "tpe" and baseline:
            path = os.path.join(baseline, _safe(problem), "tpe", f"seed{seed}.csv")
        if os.path.exists(path):
            frame = pd.read_csv(path)
            if len(frame) >= trials:
                frames.append(frame.iloc[:trials])
    return frames


def mean_regret(frames: list[pd.DataFrame], budget: int, column: str = "regret") -> float:
    values = [f[column].iloc[budget - 1] for f in frames if len(f) >= budget]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def summarise(
    out: str, problems: list[str], configs: list[str], seeds: list[int], trials: int,
    baseline: str | None,
) -> pd.DataFrame:
    """Per problem, configuration and budget: mean regret (best observed and recommended),
    TPE's, the ratio with floors, repeats and sampler time."""
    rows = []
    for problem in problems:
        spec = get_problem(problem)
        tpe = load_runs(out, problem, "tpe", seeds, trials, baseline)
        floor = (spec.min_regret or 0.01) / max(len(seeds), 1)
        for config in configs:
            frames = load_runs(out, problem, config, seeds, trials, baseline)
            if not frames or not tpe:
                continue
            for budget in BUDGETS:
                if budget > trials:
                    continue
                ours, base = mean_regret(frames, budget), mean_regret(tpe, budget)
                rows.append({
                    "problem": problem,
                    "group": _group(problem),
                    "config": config,
                    "budget": budget,
                    "seeds": len(frames),
                    "tpe_seeds": len(tpe),
                    "regret": ours,
                    "recommended": mean_regret(frames, budget, "recommended_regret"),
                    "tpe": base,
                    "ratio": max(ours, floor) / max(base, floor),
                    "repeats": float(np.mean([
                        1 - f.key.iloc[:budget].nunique() / budget for f in frames
                    ])),
                    "tpe_repeats": float(np.mean([
                        1 - f.key.iloc[:budget].nunique() / budget for f in tpe
                        if "key" in f and f.key.notna().all()
                    ] or [math.nan])),
                    "ms_per_trial": 1000 * float(np.mean([
                        f.sampler_cpu_s.iloc[:budget].mean() for f in frames
                    ])) if "sampler_cpu_s" in frames[0] else math.nan,
                })
    return pd.DataFrame(rows)


def _group(problem: str) -> str:
    """The problems a headline row covers: noisy tables, noise-free tables, the rest."""
    if problem.startswith(("nb201-", "hpolib-", "hpobench-")):
        return "tables noise-free" if problem.endswith("-nf") else "tables noisy"
    return "other"


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, budget and group of problems: the geometric mean of the ratios and
    the count of problems no worse than TPE."""
    rows = []
    for (config, kind, budget), group in table.groupby(["config", "group", "budget"], sort=False):
        rows.append({
            "config": config,
            "problems": kind,
            "budget": budget,
            "n": len(group),
            "geo_mean_ratio": float(np.exp(np.log(group.ratio).mean())),
            "no_worse": int((group.regret <= group.tpe).sum()),
            "ms_per_trial": float(group.ms_per_trial.mean()),
        })
    return pd.DataFrame(rows)


def timing(
    out: str, problems: list[str], configs: list[str], seeds: list[int], trials: int
) -> pd.DataFrame:
    """Sampler time per trial (CPU and wall, ms) over the last tenth of the trials before each
    checkpoint (270-300 for 300), against TPE's in the same runs."""
    rows = []
    for problem in problems:
        for config in [*configs, "tpe"]:
            frames = load_runs(out, problem, config, seeds, trials, None)
            if not frames:
                continue
            for budget in [c for c in CHECKPOINTS if 100 <= c <= trials]:
                window = slice(budget - budget // 10, budget)
                rows.append({
                    "problem": problem, "config": config, "trials": budget, "seeds": len(frames),
                    "cpu_ms": 1000 * float(np.mean([f.sampler_cpu_s.iloc[window].mean()
                                                    for f in frames])),
                    "wall_ms": 1000 * float(np.mean([f.sampler_s.iloc[window].mean()
                                                     for f in frames])),
                })
    table = pd.DataFrame(rows)
    tpe = table[table.config == "tpe"].set_index(["problem", "trials"])
    table["cpu_x_tpe"] = [
        r.cpu_ms / tpe.cpu_ms.get((r.problem, r.trials), math.nan) for r in table.itertuples()
    ]
    table["wall_x_tpe"] = [
        r.wall_ms / tpe.wall_ms.get((r.problem, r.trials), math.nan) for r in table.itertuples()
    ]
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "report", "timing"])
    parser.add_argument("--configs", nargs="+", default=["model"])
    parser.add_argument("--problems", nargs="+", default=["all"])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/model")
    parser.add_argument("--baseline", default=None,
                        help="the runner's raw directory, to read TPE's runs from")
    parser.add_argument("--detail", action="store_true", help="report: per problem too")
    parser.add_argument("--markdown", action="store_true", help="report: markdown tables")
    args = parser.parse_args(argv)
    problems = expand_problems(args.problems)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.command == "run":
        jobs = [Job(p, c, s, args.trials) for p in problems for c in args.configs for s in seeds]
        if "tpe" not in args.configs:  # TPE's runs are needed for the ratios
            have = {p for p in problems if len(
                load_runs(args.out, p, "tpe", seeds, args.trials, args.baseline)) == len(seeds)}
            jobs += [Job(p, "tpe", s, args.trials) for p in problems if p not in have
                     for s in seeds]
        run(jobs, args.out, args.processes)
        return
    if args.command == "timing":
        table = timing(args.out, problems, args.configs, seeds, args.trials)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        return
    table = summarise(args.out, problems, args.configs, seeds, args.trials, args.baseline)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_colwidth", 60)
    show = markdown if args.markdown else _plain
    if args.detail:
        print(show(table, "{:.3g}"))
    print(show(headline(table), "{:.3f}"))


def _plain(frame: pd.DataFrame, number: str) -> str:
    return frame.to_string(index=False, float_format=lambda v: number.format(v))


def markdown(frame: pd.DataFrame, number: str) -> str:
    """A markdown table (no tabulate dependency)."""
    def cell(v: Any) -> str:
        return number.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
