"""Many workers on one PostgreSQL study: throughput, sampler time, and search quality.

    python -m benchmarks.workers --url postgresql://rlnas:PASSWORD@127.0.0.1:5432/rlnas_test \
        --workers 8 --trials 500 --samplers rlnas,tpe --out benchmarks/results/workers.json

1. Throughput: ``--workers`` processes, each running ``--trials`` fast trials (``--problem``, a
   synthetic NAS-like chain by default) against one study, for each sampler in turn, with the
   storage of :func:`optuna_rlnas.storage.make_storage` (heartbeats on). Reports complete trials
   per second (first trial start to last trial end, read from storage) and sampler seconds per
   trial (every sampler hook, timed in the workers by ``TimedSampler``), with ratios against the
   last sampler listed (TPE).
2. Quality: the best noise-free value after ``--quality-trials`` trials with
   ``--quality-workers`` workers against one worker, per sampler, over ``--quality-seeds`` seeds.

Prints a Markdown table and writes every number to ``--out`` (JSON). Worker processes are this
module with ``worker`` as the first argument.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import optuna

from benchmarks.problems import get_problem
from benchmarks.samplers import make_sampler
from benchmarks.timing import TimedSampler

ROOT = Path(__file__).resolve().parents[1]


# --- one worker process ----------------------------------------------------------------------


def worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--problem", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--trials", type=int, required=True)
    args = parser.parse_args(argv)

    import torch

    from optuna_rlnas.storage import make_storage

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = TimedSampler(make_sampler(args.sampler, args.seed))
    study = optuna.load_study(
        study_name=args.study, storage=make_storage(args.url), sampler=sampler
    )
    study.optimize(get_problem(args.problem).make_objective(args.seed), n_trials=args.trials)
    print(json.dumps({"sampler_seconds": sum(sampler.seconds.values()), "trials": args.trials}))


# --- the parent ------------------------------------------------------------------------------


def run_study(url: str, sampler: str, problem: str, workers: int, trials: int, seed: int) -> dict:
    """``workers`` processes x ``trials`` trials on a fresh study; its figures."""
    from optuna_rlnas.storage import make_storage

    storage = make_storage(url)
    name = f"bench-workers-{sampler}-{workers}x{trials}-{seed}-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=storage, direction="maximize")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.workers",
                "worker",
                "--url",
                url,
                "--study",
                name,
                "--sampler",
                sampler,
                "--problem",
                problem,
                "--seed",
                str(seed * 1000 + i),
                "--trials",
                str(trials),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(workers)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a {sampler} worker failed:\n{err[-3000:]}")
        reports.append(json.loads(out.splitlines()[-1]))
    study = optuna.load_study(study_name=name, storage=storage)
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    seconds = (end - start).total_seconds()
    spec = get_problem(problem)
    best = max(spec.true_value(t.params) for t in done)
    return {
        "sampler": sampler,
        "workers": workers,
        "trials_per_worker": trials,
        "seed": seed,
        "complete": len(done),
        "numbers_ok": sorted(t.number for t in study.get_trials()) == list(range(workers * trials)),
        "seconds": seconds,
        "trials_per_second": len(done) / seconds,
        "sampler_seconds_per_trial": sum(r["sampler_seconds"] for r in reports) / len(done),
        "best_true_value": best,
        "optimum": spec.optimum,
    }


def markdown(results: dict) -> str:
    rows = results["throughput"]
    ref = rows[-1]
    lines = [
        f"Throughput: {ref['workers']} workers x {ref['trials_per_worker']} trials, "
        f"{results['problem']}, PostgreSQL, ratios against {ref['sampler']}.",
        "",
        "| sampler | complete | trials/s | ratio | sampler ms/trial | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sampler']} | {r['complete']} | {r['trials_per_second']:.2f} | "
            f"{r['trials_per_second'] / ref['trials_per_second']:.2f} | "
            f"{1000 * r['sampler_seconds_per_trial']:.1f} | "
            f"{r['sampler_seconds_per_trial'] / ref['sampler_seconds_per_trial']:.2f} |"
        )
    quality = results.get("quality", [])
    if quality:
        total = quality[0]["workers"] * quality[0]["trials_per_worker"]
        lines += [
            "",
            f"Quality: best noise-free value after {total} trials "
            f"(optimum {quality[0]['optimum']:.1f}), mean +- sd over seeds.",
            "",
            "| sampler | workers | best value | seeds |",
            "|---|---|---|---|",
        ]
        groups: dict[tuple[str, int], list[float]] = {}
        for r in quality:
            groups.setdefault((r["sampler"], r["workers"]), []).append(r["best_true_value"])
        for (sampler, workers), values in groups.items():
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            lines.append(
                f"| {sampler} | {workers} | {statistics.mean(values):.2f} +- {sd:.2f} | "
                f"{len(values)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("RLNAS_TEST_POSTGRES_URL"))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=500, help="per worker")
    parser.add_argument("--samplers", default="rlnas,tpe", help="the last one is the reference")
    parser.add_argument("--problem", default="synthetic-10")
    parser.add_argument("--quality-workers", type=int, default=4)
    parser.add_argument("--quality-trials", type=int, default=200, help="in all, per study")
    parser.add_argument("--quality-seeds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/workers.json")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url (or RLNAS_TEST_POSTGRES_URL) is required")
    from optuna_rlnas.storage import mask_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = args.samplers.split(",")
    results: dict = {"problem": args.problem, "url": mask_url(args.url), "throughput": []}
    for sampler in samplers:
        row = run_study(args.url, sampler, args.problem, args.workers, args.trials, seed=0)
        results["throughput"].append(row)
        print(json.dumps(row), flush=True)
    results["quality"] = []
    if args.quality_trials:
        n, k = args.quality_trials, args.quality_workers
        for seed in range(args.quality_seeds):
            for sampler in samplers:
                for workers in (1, k):
                    row = run_study(
                        args.url, sampler, args.problem, workers, n // workers, seed + 1
                    )
                    results["quality"].append(row)
                    print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
