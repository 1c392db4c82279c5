"""Run problems x samplers x seeds and write one tidy CSV per problem.

    python -m benchmarks.run --problems nb201-cifar10 synthetic-50 \
        --samplers rlnas tpe random evolution --seeds 20 --trials 300 --out benchmarks/results

``--problems`` takes problem names and suites (``tables``, ``all``, ...: see
``benchmarks/problems.py``). Rows: ``sampler, problem, seed, trial, value, best_so_far, regret,
sampler_time_s, elapsed_s, key``. ``value`` is what the sampler observed, ``best_so_far`` the best
observed value up to this trial, ``regret`` the problem's optimum minus the noise-free value of
that incumbent (empty when the optimum is unknown), ``sampler_time_s`` the time spent inside the
sampler for this trial, ``elapsed_s`` the study's wall time so far and ``key`` the trial's
parameters as a canonical string (equal for a repeated architecture). Each finished run is also
kept in ``OUT/raw/PROBLEM/SAMPLER/seedN.csv``; runs already present with the same number of trials
and a key for each trial are reused, so an interrupted run resumes. Jobs run in ``--processes``
processes, grouped by problem; a problem's CSV is written as soon as its runs are done.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import os
import re
import sys
import time
from dataclasses import dataclass

import optuna
import pandas as pd

from benchmarks.problems import SUITES
from benchmarks.problems import Problem
from benchmarks.problems import ProblemUnavailable
from benchmarks.problems import expand_problems
from benchmarks.problems import get_problem
from benchmarks.samplers import SAMPLERS
from benchmarks.samplers import SamplerUnavailable
from benchmarks.samplers import make_sampler
from benchmarks.timing import TimedSampler

COLUMNS = [
    "sampler", "problem", "seed", "trial", "value", "best_so_far", "regret", "sampler_time_s",
    "elapsed_s", "key",
]


def read_results(path: str) -> pd.DataFrame:
    """A CSV of the runner; ``key`` stays a string (``"000123"`` is not a number), and files
    written before keys were recorded get an empty ``key`` column."""
    frame = pd.read_csv(path, dtype={"key": str}, keep_default_na=False, na_values=[""])
    if "key" not in frame.columns:
        frame["key"] = pd.Series(pd.NA, index=frame.index, dtype=object)
    return frame


def complete(frame: pd.DataFrame, trials: int) -> bool:
    """Whether a stored run can be reused: ``trials`` rows, each with a key."""
    return len(frame) == trials and bool(frame.key.notna().all())


@dataclass(frozen=True)
class Job:
    problem: str  # the spec given to get_problem
    sampler: str
    seed: int
    trials: int


@functools.cache
def _problem(spec: str) -> Problem:
    return get_problem(spec)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run_job(job: Job) -> pd.DataFrame:
    """One study: ``job.trials`` trials of ``job.sampler`` on ``job.problem`` with ``job.seed``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        import torch

        torch.set_num_threads(1)  # seeds run in parallel processes; one core each
    except ImportError:  # pragma: no cover
        pass
    problem = _problem(job.problem)
    sampler = TimedSampler(make_sampler(job.sampler, job.seed, problem.value_scale))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    objective = problem.make_objective(job.seed)
    start = time.perf_counter()
    elapsed = []

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        elapsed.append(time.perf_counter() - start)

    study.optimize(objective, n_trials=job.trials, callbacks=[record], catch=(Exception,))
    rows = []
    best, best_params = -math.inf, None
    for trial in study.get_trials(deepcopy=False):
        finished = trial.state == optuna.trial.TrialState.COMPLETE
        value = trial.value if finished else math.nan
        if value > best:
            best, best_params = value, trial.params
        regret = math.nan
        if problem.optimum is not None and best_params is not None:
            regret = problem.optimum - problem.true_value(best_params)
        rows.append(
            (job.sampler, problem.name, job.seed, trial.number, value,
             best if best_params is not None else math.nan, regret,
             sampler.seconds[trial.number], elapsed[trial.number],
             problem.key(trial.params) if finished else "")
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _raw_path(out: str, problem: str, job: Job) -> str:
    return os.path.join(out, "raw", safe_name(problem), job.sampler, f"seed{job.seed}.csv")


def result_path(out: str, problem: str) -> str:
    return os.path.join(out, f"{safe_name(problem)}.csv.gz")


def _run_and_save(args: tuple[Job, str, str]) -> tuple[Job, str, float]:
    job, out, problem_name = args
    start = time.perf_counter()
    frame = run_job(job)
    path = _raw_path(out, problem_name, job)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame.to_csv(path + ".tmp", index=False)
    os.replace(path + ".tmp", path)
    return job, path, time.perf_counter() - start


def run(
    problems: list[str],
    samplers: list[str],
    seeds: list[int],
    trials: int,
    out: str,
    processes: int = 2,
    rerun: tuple[str, ...] = (),
) -> list[str]:
    """Runs what is missing and writes ``OUT/PROBLEM.csv.gz`` per problem; returns the paths.

    Runs of the samplers in ``rerun`` are redone even when present (after a sampler changed).
    """
    available = []
    for sampler in samplers:
        try:
            make_sampler(sampler, 0)
            available.append(sampler)
        except SamplerUnavailable as e:
            print(f"skipping sampler {sampler}: {e}", file=sys.stderr)
    jobs, kept, names = [], {}, {}
    for spec in expand_problems(problems):
        try:
            name = _problem(spec).name
        except ProblemUnavailable as e:
            print(f"skipping problem {spec}: {e}", file=sys.stderr)
            continue
        names[spec] = name
        path = result_path(out, name)
        old = read_results(path) if os.path.exists(path) else None
        for sampler in available:
            for seed in seeds:
                job = Job(spec, sampler, seed, trials)
                raw = _raw_path(out, name, job)
                if sampler in rerun:
                    jobs.append(job)
                    continue
                if old is not None:
                    prev = old[(old.sampler == sampler) & (old.seed == seed)]
                    if complete(prev, trials):
                        kept[job] = prev
                        continue
                if os.path.exists(raw) and complete(prev_raw := read_results(raw), trials):
                    kept[job] = prev_raw
                    continue
                jobs.append(job)
    print(f"{len(jobs)} runs to do, {len(kept)} reused", file=sys.stderr)
    done = dict(kept)
    left = {spec: sum(job.problem == spec for job in jobs) for spec in names}
    for spec in names:
        if left[spec] == 0:
            _write_problem(out, spec, names[spec], done, jobs)
    tasks = [(job, out, names[job.problem]) for job in jobs]
    start = time.perf_counter()

    def finished(i: int, job: Job, path: str, seconds: float) -> None:
        done[job] = read_results(path)
        _progress(i, len(tasks), job, seconds, start)
        left[job.problem] -= 1
        if left[job.problem] == 0:  # write each problem as soon as it is done
            _write_problem(out, job.problem, names[job.problem], done, jobs)

    if processes > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(processes) as pool:
            results = pool.imap_unordered(_run_and_save, tasks)
            for i, (job, path, seconds) in enumerate(results, 1):
                finished(i, job, path, seconds)
    else:
        for i, task in enumerate(tasks, 1):
            finished(i, *_run_and_save(task))
    return [result_path(out, name) for name in names.values()]


def _write_problem(out: str, spec: str, name: str, done: dict[Job, pd.DataFrame],
                   jobs: list[Job]) -> None:
    """Writes the problem's CSV: the runs of this call and the other runs already stored."""
    path = result_path(out, name)
    if os.path.exists(path) and not any(job.problem == spec for job in jobs):
        return  # nothing new: leave the file as it is
    frames = [f for job, f in done.items() if job.problem == spec]
    if os.path.exists(path):  # keep other samplers' and seeds' runs already there
        old = read_results(path)
        ran = {(j.sampler, j.seed) for j in done if j.problem == spec}
        keep = [k not in ran for k in zip(old.sampler, old.seed, strict=True)]
        frames.append(old[keep])
    frame = pd.concat(frames, ignore_index=True)[COLUMNS]
    frame = frame.sort_values(["sampler", "seed", "trial"], kind="stable")
    os.makedirs(out, exist_ok=True)
    gzip = {"method": "gzip", "mtime": 0}  # the same rows give the same bytes
    frame.to_csv(path + ".tmp", index=False, float_format="%.6g", compression=gzip)
    os.replace(path + ".tmp", path)


def _progress(i: int, n: int, job: Job, seconds: float, start: float) -> None:
    print(
        f"[{i}/{n}] {job.problem} {job.sampler} seed {job.seed}: {seconds:.1f} s "
        f"(total {time.perf_counter() - start:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def split_list(values: list[str]) -> list[str]:
    """``["a,b", "c"] -> ["a", "b", "c"]``; a ``csv:`` problem spec is never split."""
    items = []
    for value in values:
        items.extend([value] if value.startswith("csv:") else value.split(","))
    return [v for v in items if v]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problems", nargs="+", default=["nb201"],
                        help="problem names or suites: " + ", ".join(
                            f"{k} ({len(v)})" for k, v in SUITES.items()))
    parser.add_argument("--samplers", nargs="+",
                        default=["rlnas", "rlnas-paper", "tpe", "random", "evolution"],
                        help=f"any of {sorted(SAMPLERS)}")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rerun", nargs="*", default=[],
                        help="samplers whose stored runs are redone (after the sampler changed)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    for path in run(split_list(args.problems), split_list(args.samplers), list(range(args.seeds)),
                    args.trials, args.out, args.processes, tuple(split_list(args.rerun))):
        print(path)


if __name__ == "__main__":
    main()
