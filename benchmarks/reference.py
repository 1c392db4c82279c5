"""Keep a sampler's current results as a reference, to check later reruns against them.

    python -m benchmarks.reference --sampler rlnas-paper

stores, from every problem CSV in ``--results``, that sampler's regret and best value at each
budget of the report into ``RESULTS/reference/SAMPLER.csv.gz`` (with the date and which code
made the runs: ``--source``, by default the current commit). After a change that should leave
the sampler as it is (the paper preset under a restructured sampler), rerun it
(``python -m benchmarks.run --rerun rlnas-paper ...``) and the report sets the new rows beside
the reference with two-sided Mann-Whitney p-values.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import subprocess

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks.run import read_results

BUDGETS = (25, 50, 100, 200, 300)
COLUMNS = ["sampler", "problem", "seed", "trial", "regret", "best_so_far", "taken", "source"]


def reference_path(results: str, sampler: str) -> str:
    return os.path.join(results, "reference", f"{sampler}.csv.gz")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def take(results: str, sampler: str, source: str | None = None, out: str | None = None) -> str:
    """Writes the reference of ``sampler`` from the CSVs in ``results`` into ``out`` (default:
    ``results``' reference folder); ``source`` says which code made the runs (default: the
    current commit). Returns the path written."""
    frames = []
    for path in sorted(glob.glob(os.path.join(results, "*.csv.gz"))):
        frame = read_results(path)
        rows = frame[(frame.sampler == sampler) & frame.trial.isin([b - 1 for b in BUDGETS])]
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise ValueError(f"No runs of {sampler!r} in {results}.")
    frame["taken"] = datetime.date.today().isoformat()
    frame["source"] = source or f"commit {_commit()}"
    path = reference_path(out or results, sampler)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame[COLUMNS].to_csv(path, index=False, float_format="%.6g",
                          compression={"method": "gzip", "mtime": 0})
    return path


def comparison(frame: pd.DataFrame, results: str, sampler: str) -> list[str] | None:
    """Markdown lines: the reference's mean regret beside the current one, per problem and
    budget (100 and 300), with two-sided Mann-Whitney p-values; ``None`` without a reference."""
    path = reference_path(results, sampler)
    if not os.path.exists(path):
        return None
    ref = pd.read_csv(path)
    now = frame[frame.sampler == sampler]
    taken = f"{ref.taken.iloc[0]}, runs of {ref.source.iloc[0]}" if len(ref) else "?"
    lines = [f"Reference taken on {taken} (`python -m benchmarks.reference --sampler {sampler}`)"
             "; p: two-sided Mann-Whitney U over seeds (H0: same distribution).", "",
             "| problem | budget | reference | now | p |", "|---|---|---|---|---|"]
    n_tests, n_low = 0, 0
    for problem in sorted(set(ref.problem) & set(now.problem)):
        for budget in (100, 300):
            x = ref[(ref.problem == problem) & (ref.trial == budget - 1)].regret
            y = now[(now.problem == problem) & (now.trial == budget - 1)].regret
            if len(x) < 2 or len(y) < 2:
                continue
            same = np.array_equal(np.sort(x.to_numpy()), np.sort(y.to_numpy()))
            p = 1.0 if same else float(stats.mannwhitneyu(x, y).pvalue)
            n_tests += 1
            n_low += p < 0.05
            lines.append(f"| {problem} | {budget} | {x.mean():.4g} | {y.mean():.4g} | "
                         f"{'identical' if same else f'{p:.2g}'} |")
    if n_tests == 0:
        return None
    lines += ["", f"{n_low} of {n_tests} comparisons with p < 0.05 (about {0.05 * n_tests:.1f} "
              "expected by chance when nothing changed)."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sampler", default="rlnas-paper")
    parser.add_argument("--results", default="benchmarks/results")
    parser.add_argument("--source", help="which code made the runs (default: this commit)")
    parser.add_argument("--out", help="results folder to write the reference into "
                        "(default: --results)")
    args = parser.parse_args(argv)
    print(take(args.results, args.sampler, args.source, args.out))


if __name__ == "__main__":
    main()
