"""Figures over many problems: regret against TPE's, repeated architectures, sampler time.

Works on the runner's rows (``benchmarks/run.py``); every function takes the tidy frame of one or
more problems and returns markdown lines, or numbers the tests check.

Regret ratio rule (issue 11's summary): for a problem and a budget of ``b`` trials, the ratio of a
sampler to TPE is computed on the *mean* regrets over seeds after ``b`` trials. A mean regret is
first raised to the problem's resolution, ``min_regret / seeds`` (the smallest positive mean the
seeds can produce: one seed at the runner-up configuration, all others at the optimum), so a
sampler that found the optimum on every seed is compared with that resolution instead of
dividing by zero, and two samplers that both did count as 1. The summary is the geometric mean of
the ratios over the problems where both samplers have runs of ``b`` trials, with a bootstrap
interval over seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

REFERENCE = "tpe"
N_BOOTSTRAP = 1000


def final_regrets(frame: pd.DataFrame, budget: int) -> dict[tuple[str, str], np.ndarray]:
    """``(problem, sampler) -> regret of each seed after budget trials`` (runs that long)."""
    rows = frame[frame.trial == budget - 1]
    return {key: sub.regret.to_numpy(dtype=float)
            for key, sub in rows.groupby(["problem", "sampler"])}


def floored_ratio(x: float, y: float, floor: float) -> float:
    """``x / y`` with both raised to ``floor`` first (the rule in the module docstring)."""
    return max(x, floor) / max(y, floor)


def ratio_summary(
    frame: pd.DataFrame,
    problems: list[str],
    sampler: str,
    budget: int,
    min_regret: dict[str, float | None],
    rng: np.random.Generator | None = None,
) -> dict[str, object]:
    """The sampler against TPE after ``budget`` trials over ``problems``.

    Returns ``ratios`` (problem -> floored ratio of mean regrets), ``no_higher`` (problems where
    its mean regret is no higher than TPE's, unfloored), ``geomean`` and ``interval`` (2.5 and
    97.5 percentiles of the geometric mean when seeds are resampled within each run).
    """
    regrets = final_regrets(frame, budget)
    ratios, no_higher, pairs = {}, [], []
    for problem in problems:
        x, y = regrets.get((problem, sampler)), regrets.get((problem, REFERENCE))
        step = min_regret.get(problem)
        if x is None or y is None or not len(x) or not len(y) or step is None:
            continue
        floor = step / max(len(x), len(y))
        ratios[problem] = floored_ratio(x.mean(), y.mean(), floor)
        if x.mean() <= y.mean():
            no_higher.append(problem)
        pairs.append((x, y, floor))
    out: dict[str, object] = {"ratios": ratios, "no_higher": no_higher, "geomean": float("nan"),
                              "interval": (float("nan"), float("nan"))}
    if not pairs:
        return out
    out["geomean"] = float(np.exp(np.mean(np.log(list(ratios.values())))))
    rng = rng or np.random.default_rng(0)
    logs = np.zeros(N_BOOTSTRAP)
    for x, y, floor in pairs:
        mx = x[rng.integers(len(x), size=(N_BOOTSTRAP, len(x)))].mean(axis=1)
        my = y[rng.integers(len(y), size=(N_BOOTSTRAP, len(y)))].mean(axis=1)
        logs += np.log(np.maximum(mx, floor) / np.maximum(my, floor))
    boot = np.exp(logs / len(pairs))
    out["interval"] = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    return out


def ratio_table(
    frame: pd.DataFrame,
    problems: list[str],
    samplers: list[str],
    budgets: tuple[int, ...],
    min_regret: dict[str, float | None],
) -> list[str]:
    """One row per sampler: problems no worse than TPE and the geometric mean of the ratios."""
    head = ["sampler"]
    for b in budgets:
        head += [f"<= TPE at {b}", f"geo. mean ratio at {b} (95% interval)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sampler in samplers:
        if sampler == REFERENCE:
            continue
        cells = [sampler]
        for b in budgets:
            s = ratio_summary(frame, problems, sampler, b, min_regret)
            n = len(s["ratios"])  # type: ignore[arg-type]
            if not n:
                cells += ["n/a", "n/a"]
                continue
            low, high = s["interval"]  # type: ignore[misc]
            cells += [f"{len(s['no_higher'])} of {n}",  # type: ignore[arg-type]
                      f"{s['geomean']:.2f} ({low:.2f}-{high:.2f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ratio_grid(
    frame: pd.DataFrame,
    problems: list[str],
    samplers: list[str],
    budgets: tuple[int, ...],
    min_regret: dict[str, float | None],
) -> list[str]:
    """Per problem, each sampler's floored regret ratio to TPE at each budget (``a / b``)."""
    others = [s for s in samplers if s != REFERENCE]
    per = {(s, b): ratio_summary(frame, problems, s, b, min_regret)["ratios"]
           for s in others for b in budgets}
    lines = ["| problem | " + " | ".join(others) + " |", "|" + "---|" * (len(others) + 1)]
    for problem in problems:
        cells = [problem]
        for s in others:
            values = [per[(s, b)].get(problem) for b in budgets]  # type: ignore[union-attr]
            cells.append(" / ".join("-" if v is None else f"{v:.2f}" for v in values))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def must_show(
    frame: pd.DataFrame,
    noisy: list[str],
    noise_free: list[str],
    min_regret: dict[str, float | None],
    sampler: str = "rlnas",
) -> list[str]:
    """Issue 11's targets for the default against TPE, each with its figure and a verdict."""
    def verdict(ok: bool) -> str:
        return "**yes**" if ok else "**no**"

    lines = []
    for name, problems, limits, min_count in (
        ("Noise-free", noise_free, {100: 0.8, 300: 0.8}, 12),
        ("Noisy", noisy, {100: 0.8, 300: 1.0}, None),
    ):
        for b, limit in limits.items():
            s = ratio_summary(frame, problems, sampler, b, min_regret)
            n = len(s["ratios"])  # type: ignore[arg-type]
            if n == 0:
                lines.append(f"- {name}, {b} trials: no runs of `{sampler}` and `tpe` to compare.")
                continue
            short = "" if n == len(problems) else f" (only {n} of {len(problems)} problems)"
            count = len(s["no_higher"])  # type: ignore[arg-type]
            text = (f"- {name}, {b} trials: geometric mean of the regret ratio to TPE "
                    f"{s['geomean']:.2f} (target <= {limit}): {verdict(s['geomean'] <= limit)}")
            if min_count is not None:
                text += (f"; mean regret no higher than TPE's on {count} of {n} "
                         f"(target >= {min_count}): {verdict(count >= min_count)}")
            lines.append(text + short + ".")
    return lines


def repeat_fraction(frame: pd.DataFrame, trials: int) -> pd.DataFrame:
    """Per (problem, sampler, seed): the share of the first ``trials`` trials whose key was
    already tried earlier in the same run (NaN for runs stored without keys or shorter)."""
    first = frame[frame.trial < trials]

    def share(keys: pd.Series) -> float:
        if len(keys) < trials or keys.isna().any():
            return float("nan")
        return float(keys.duplicated().mean())

    shares = first.groupby(["problem", "sampler", "seed"]).key.apply(share)
    return shares.rename("repeats").reset_index()


def repeat_table(frame: pd.DataFrame, problems: list[str], samplers: list[str],
                 trials: int) -> list[str]:
    """Mean (standard error) over seeds of the share of repeated architectures."""
    shares = repeat_fraction(frame[frame.problem.isin(problems)], trials).dropna()
    lines = ["| problem | " + " | ".join(samplers) + " |", "|" + "---|" * (len(samplers) + 1)]
    for problem in problems:
        cells = [problem]
        for s in samplers:
            v = shares[(shares.problem == problem) & (shares.sampler == s)].repeats
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
            cells.append(f"{v.mean():.1%} ({se:.1%})" if len(v) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def time_table(frame: pd.DataFrame, groups: dict[str, Callable[[str], bool]],
               samplers: list[str]) -> list[str]:
    """Sampler milliseconds per trial by group of problems: mean over all trials, and over the
    last tenth of each run's trials (where a sampler whose cost grows is slowest)."""
    lines = ["| problems | " + " | ".join(samplers) + " |", "|" + "---|" * (len(samplers) + 1)]
    n = frame.groupby(["problem", "sampler", "seed"]).trial.transform("max") + 1
    last = frame[frame.trial >= 0.9 * n]
    for group, member in groups.items():
        in_group = frame.problem.map(member)
        if not in_group.any():
            continue
        cells = [group]
        for s in samplers:
            sel = in_group & (frame.sampler == s)
            if not sel.any():
                cells.append("-")
                continue
            tail = last[last.problem.map(member) & (last.sampler == s)]
            trials = int(frame[sel].trial.max()) + 1
            cells.append(f"{frame[sel].sampler_time_s.mean() * 1e3:.1f} / "
                         f"{tail.sampler_time_s.mean() * 1e3:.1f} ({trials})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


RULE = (
    "Ratios to TPE are computed on mean regrets over seeds after the budget; a mean regret is "
    "first raised to the problem's resolution, `min_regret / seeds` (the mean regret of one seed "
    "at the runner-up configuration and all others at the optimum), so finding the optimum on "
    "every seed is not a division by zero and two samplers that both did count as 1. The "
    "summary is the geometric mean of the ratios over the problems; the interval is the 2.5-97.5 "
    "percentiles of that geometric mean when the seeds of every run are resampled (1,000 "
    "bootstrap draws). '<= TPE': problems where the sampler's mean regret is no higher than "
    "TPE's (no floor)."
)


def _family(problem: str) -> str:
    return problem.split("-")[0]


def sections(frame: pd.DataFrame, floors: dict[str, float | None],
             samplers: list[str]) -> list[str]:
    """The page's cross-problem sections: the 15 tables against TPE, repeats, sampler time."""
    from benchmarks.problems import SUITES

    present = set(frame.problem)
    noisy = [p for p in SUITES["tables-noisy"] if p in present]
    free = [p for p in SUITES["tables-nf"] if p in present]
    parts: list[str] = []
    if noisy or free:
        parts += ["## Against TPE over the 15 tables (issue 11)", "", RULE, "",
                  "Targets of issue 11 for the default (`rlnas`):", "",
                  *must_show(frame, noisy, free, floors), ""]
        for title, problems in (("Noise-free", free), ("Noisy", noisy)):
            if not problems:
                continue
            with_runs = [s for s in samplers
                         if s in set(frame[frame.problem.isin(problems)].sampler)]
            parts += [f"### {title} ({len(problems)} of the 15 tables)", "",
                      *ratio_table(frame, problems, with_runs, (100, 300), floors), "",
                      "Ratio of mean regrets to TPE's per problem, at 100 / 300 trials "
                      "(below 1: lower regret than TPE; '-': no runs of that length):", "",
                      *ratio_grid(frame, problems, with_runs, (100, 300), floors), ""]
    nb201 = [p for p in SUITES["nb201"] if p in present]
    others = sorted(present - set(nb201) - {"digits-cnn"})
    if nb201 or others:
        parts += ["## Repeated architectures", "",
                  "Share of the first 300 trials whose configuration (`key`) was already tried "
                  "earlier in the same run; mean (standard error) over seeds. On a noise-free "
                  "problem every repeat is a wasted trial.", ""]
        for problems in (nb201, others):
            if problems:
                parts += [*repeat_table(frame, problems, samplers, 300), ""]
    groups = {"NAS-Bench-201 (6)": lambda p: _family(p) == "nb201",
              "HPOLib (8)": lambda p: _family(p) == "hpolib",
              "HPOBench (16)": lambda p: _family(p) == "hpobench",
              **{p: (lambda q, p=p: q == p) for p in sorted(present)
                 if _family(p) not in ("nb201", "hpolib", "hpobench")}}
    parts += ["## Sampler time", "",
              "Milliseconds per trial spent in the sampler, over all trials / over the last "
              "tenth of each run (number of trials in parentheses), from the benchmark runs "
              "above: two runs at a time on a shared 2-core machine, the samplers at different "
              "times under different load, so only large factors mean something; "
              "`benchmarks/sampler_time.py` compares samplers in one run.", "",
              *time_table(frame, groups, samplers), ""]
    return parts
