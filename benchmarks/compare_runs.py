"""Compare two result folders of ``benchmarks.run`` (e.g. before and after a change).

    python -m benchmarks.compare_runs /tmp/before /tmp/after --budgets 100 300

For each problem and sampler present in both, prints the mean regret (or best value, when the
optimum is unknown) over seeds at each budget, before and after, the ratio after / before, and
the two-sided Mann-Whitney p-value of the difference (seeds as samples).
"""

from __future__ import annotations

import argparse

from scipy import stats

from benchmarks.report import at_budget
from benchmarks.report import load
from benchmarks.report import metric


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args(argv)
    before, after = load(args.before), load(args.after)
    column, _ = metric(before)
    print(f"mean {column} over seeds; before: {args.before}, after: {args.after}\n")
    print("| problem | sampler | budget | seeds | before | after | after / before | p |")
    print("|---|---|---|---|---|---|---|---|")
    for (problem, sampler), old in before.groupby(["problem", "sampler"]):
        new = after[(after.problem == problem) & (after.sampler == sampler)]
        if new.empty:
            continue
        for budget in args.budgets:
            x, y = at_budget(old, column, budget), at_budget(new, column, budget)
            if x.empty or y.empty:
                continue
            p = stats.mannwhitneyu(x, y, alternative="two-sided").pvalue if len(x) > 1 else 1.0
            ratio = y.mean() / x.mean() if x.mean() else float("nan")
            print(f"| {problem} | {sampler} | {budget} | {len(x)}/{len(y)} | {x.mean():.4g} | "
                  f"{y.mean():.4g} | {ratio:.2f} | {p:.2g} |")


if __name__ == "__main__":
    main()
