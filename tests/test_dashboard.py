"""The dashboard's figure builders and callback, on real small studies (no training, no mocks)."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

pytest.importorskip("optuna_dashboard")
pytest.importorskip("plotly")

from optuna_dashboard import get_note  # noqa: E402
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects  # noqa: E402

from optuna_rlnas import RLNASSampler  # noqa: E402
from optuna_rlnas import UpdateConfig  # noqa: E402
from optuna_rlnas._cli_search import dashboard_callbacks  # noqa: E402
from optuna_rlnas.child import Architecture  # noqa: E402
from optuna_rlnas.child import CNNSearchSpace  # noqa: E402
from optuna_rlnas.child import LayerSpec  # noqa: E402
from optuna_rlnas.child import RewardConfig  # noqa: E402
from optuna_rlnas.child import record_architecture  # noqa: E402
from optuna_rlnas.child import suggest_architecture  # noqa: E402
from optuna_rlnas.cli import main  # noqa: E402
from optuna_rlnas.dashboard import FIGURE_IDS  # noqa: E402
from optuna_rlnas.dashboard import DashboardCallback  # noqa: E402
from optuna_rlnas.dashboard import architecture_figure  # noqa: E402
from optuna_rlnas.dashboard import entropy_by_update  # noqa: E402
from optuna_rlnas.dashboard import entropy_figure  # noqa: E402
from optuna_rlnas.dashboard import policy_along  # noqa: E402
from optuna_rlnas.dashboard import policy_figure  # noqa: E402
from optuna_rlnas.dashboard import reward_figure  # noqa: E402
from optuna_rlnas.dashboard import reward_points  # noqa: E402

SPACE = CNNSearchSpace(num_layers=3, strides=(1, 2))


def _objective(trial: optuna.Trial) -> float:
    """A child described like make_objective's, scored without training: wide and skip-rich."""
    arch = suggest_architecture(trial, SPACE)
    record_architecture(trial, arch)
    trial.set_user_attr("n_params", sum(layer.filters for layer in arch.layers))
    trial.set_user_attr("train_time_s", 0.0)
    if trial.number == 2:
        raise RuntimeError("a child that fails to train")
    if trial.number == 4:
        raise optuna.TrialPruned()
    return sum(layer.filters for layer in arch.layers) / 192 + 0.1 * len(arch.outputs)


def _saved_figures(study: optuna.Study) -> dict[str, str]:
    """The plotly figures optuna-dashboard would show: graph object id -> figure JSON."""
    return get_plotly_graph_objects(study._storage.get_study_system_attrs(study._study_id))


def _search(storage=None, n_trials: int = 14, direction: str = "maximize", **callback_kwargs):
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=4))
    study = optuna.create_study(direction=direction, sampler=sampler, storage=storage)
    callback = DashboardCallback(sampler, **callback_kwargs)
    study.optimize(_objective, n_trials=n_trials, callbacks=[callback], catch=(RuntimeError,))
    return study, sampler, callback


@pytest.fixture(scope="module")
def searched():
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return _search()


def test_reward_points_skip_failed_trials_and_mark_pruned(searched) -> None:
    study, sampler, _ = searched
    points = reward_points(study, sampler)
    numbers = [p.number for p in points]
    assert 2 not in numbers  # FAIL: no reward
    assert 4 not in numbers  # PRUNED without an intermediate value: no reward
    assert numbers == sorted(numbers)
    complete = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert {p.number: p.reward for p in points} == complete


def test_reward_points_read_the_samplers_one_record_of_the_baseline(searched) -> None:
    study, sampler, _ = searched
    points = reward_points(study, sampler)
    history = sampler.reward_history
    assert [p.number for p in points] == [r.trial for r in history]
    assert [p.baseline for p in points] == [
        sampler.baseline if r.baseline is None else r.baseline for r in history
    ]


def test_reward_points_follow_a_restarted_sampler_exactly(searched) -> None:
    # A fresh process rebuilds the history by replay; the figure must not change.
    study, sampler, _ = searched
    fresh = RLNASSampler(seed=0, update=sampler.update_config)
    assert reward_points(study, fresh) == reward_points(study, sampler)


def test_reward_points_carry_the_baseline_each_reward_was_measured_against(searched) -> None:
    study, sampler, _ = searched
    points = reward_points(study, sampler)
    m = sampler.update_config.trials_per_update
    first = [p.reward for p in points[:m]]
    assert [p.baseline for p in points[:m]] == pytest.approx([sum(first) / m] * m)
    assert len({p.baseline for p in points[m : 2 * m]}) == 1  # one b per update
    assert points[m].baseline != points[0].baseline  # the first update moved it


def test_reward_figure_has_rewards_best_and_baseline(searched) -> None:
    study, sampler, _ = searched
    points = reward_points(study, sampler)
    fig = reward_figure(points)
    names = [trace.name for trace in fig.data]
    assert names == ["reward", "best so far", "baseline b"]
    assert list(fig.data[1].y) == sorted(fig.data[1].y)  # best so far never drops
    assert list(fig.data[2].y) == [p.baseline for p in points]  # the points' own baseline


def test_reward_figure_sorts_points_that_arrive_out_of_order(searched) -> None:
    study, sampler, _ = searched
    points = reward_points(study, sampler)
    fig = reward_figure(points[::-1])  # consumption order may differ from trial order
    assert list(fig.data[2].x) == sorted(p.number for p in points)


def test_reward_figure_negates_minimized_values() -> None:
    study, sampler, _ = _search(n_trials=6, direction="minimize", every=100)
    points = reward_points(study, sampler)
    assert points and all(p.reward == -study.trials[p.number].value for p in points)


def test_entropy_figure_groups_trials_by_update(searched) -> None:
    study, _, _ = searched
    fig = entropy_figure(entropy_by_update(study))
    mean = fig.data[1]
    updates = {t.system_attrs["rlnas:trial"]["update"] for t in study.trials}
    assert list(mean.x) == sorted(updates)
    # Every trial with a drawn step counted once; a child the reward model picked whole (the
    # default's "planned" trials) has no policy entropy.
    drawn = [t for t in study.trials if t.system_attrs["rlnas:trial"]["sampled"]]
    assert sum(mean.customdata) == len(drawn) and len(drawn) >= 10
    assert all(y > 0 for y in mean.y)


@pytest.mark.parametrize(("updates", "step"), [([0], 1), ([0, 1], 1), ([0, 3], 1), ([0, 40], 5)])
def test_entropy_figure_ticks_only_whole_updates(updates, step) -> None:
    axis = entropy_figure({u: [1.0] for u in updates}).layout.xaxis
    assert (axis.tickmode, axis.tick0, axis.dtick, axis.tickformat) == ("linear", 0, step, "d")


def test_reward_figure_ticks_only_whole_trials(searched) -> None:
    study, sampler, _ = searched
    axis = reward_figure(reward_points(study, sampler)[:2]).layout.xaxis
    assert (axis.tickmode, axis.dtick, axis.tickformat) == ("linear", 1, "d")


def _policy_of_default_search() -> tuple[optuna.trial.FrozenTrial, object]:
    """One trial of the default `rlnas search` space: 6 layers with skip connections."""
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = CNNSearchSpace()  # the default of rlnas search: 6 layers, 45 decisions
    study.optimize(lambda t: len(suggest_architecture(t, space).outputs), n_trials=1)
    trial = study.trials[0]
    return trial, policy_along(sampler, trial)


def test_policy_figure_groups_the_45_decisions_of_the_default_search() -> None:
    trial, policy = _policy_of_default_search()
    assert len(policy.decisions) == len(trial.params) == 45
    fig = policy_figure(policy)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        "filter height",
        "filter width",
        "stride height",
        "stride width",
        "filters",
        "skip connections (from column)",
    ]
    # Readable in optuna-dashboard's 450 px box: no heatmap has more than a row per layer.
    assert [len(h.z) for h in fig.data] == [6, 6, 6, 6, 6, 5]
    assert sum(cell is not None for h in fig.data for row in h.z for cell in row) == sum(
        len(trial.distributions[name].choices) if "skip" not in name else 1 for name in trial.params
    )  # every decision's probabilities, each once


def test_policy_figure_prints_probabilities_and_boxes_the_trials_choices() -> None:
    trial, policy = _policy_of_default_search()
    fig = policy_figure(policy)
    filters = fig.data[4]
    assert list(fig.layout.xaxis5.ticktext) == ["24", "36", "48", "64"]
    assert list(fig.layout.yaxis5.ticktext) == [f"L{i}" for i in range(6)]
    for row, texts in zip(filters.z, filters.text):
        assert sum(row) == pytest.approx(1.0, abs=1e-3)
        assert texts == [f"{p:.2f}" for p in row]
    skips = [name for name, value in trial.params.items() if "skip" in name and value]
    boxed = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(boxed) == (45 - 15) + len(skips)  # one per layer decision, one per connection
    box = next(s for s in boxed if s.xref == "x5")  # the filters of layer 0
    chosen = [24, 36, 48, 64].index(trial.params["layer_0/filters"])
    assert (box.x0, box.x1, box.y0, box.y1) == (chosen - 0.5, chosen + 0.5, -0.5, 0.5)


def test_policy_figure_skip_panel_holds_only_earlier_layers() -> None:
    trial, policy = _policy_of_default_search()
    skip = policy_figure(policy).data[5]
    for i, row in enumerate(skip.z, start=1):  # rows are layers 1..5, columns layers 0..4
        assert [cell is not None for cell in row] == [j < i for j in range(5)]
    decisions = {d.name: d for d in policy.decisions}
    for i, row in enumerate(skip.z, start=1):
        for j in range(i):  # the probability of "connected", the second choice
            assert row[j] == pytest.approx(
                decisions[f"layer_{i}/skip_{j}"].probabilities[1], abs=1e-4
            )


def test_policy_figure_keeps_a_row_per_decision_outside_the_layer_convention() -> None:
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(
        lambda t: (
            float(t.suggest_categorical("optimizer", ["sgd", "adam"]) == "sgd")
            + t.suggest_categorical("layer_0/filters", [8, 16])
        ),
        n_trials=1,
    )
    fig = policy_figure(policy_along(sampler, study.trials[0]))
    assert [a.text for a in fig.layout.annotations] == ["other decisions", "filters"]
    assert list(fig.layout.yaxis.ticktext) == ["optimizer"]
    assert [list(row) for row in fig.data[0].text] == [["sgd", "adam"]]  # choices in the cells


def test_reward_points_take_pruned_trials_at_their_last_intermediate_value() -> None:
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_categorical("layer_0/filters", [8, 16])
        trial.report(width / 2, step=0)
        trial.report(width / 4, step=1)
        if trial.number == 1:
            raise optuna.TrialPruned()
        return float(width)

    study.optimize(objective, n_trials=3)
    pruned = [p for p in reward_points(study, sampler) if p.pruned]
    assert [(p.number, p.reward) for p in pruned] == [
        (1, study.trials[1].params["layer_0/filters"] / 4)
    ]
    assert reward_figure(reward_points(study, sampler)).data[1].name == "reward (pruned)"


def test_architecture_figure_draws_boxes_and_skip_edges() -> None:
    arch = Architecture(
        (LayerSpec(24, 3, 3), LayerSpec(36, 5, 5, inputs=(0,)), LayerSpec(48, 3, 3, inputs=(0, 1)))
    )
    fig = architecture_figure(arch.to_json())
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    arcs = [s for s in fig.layout.shapes if s.type == "path"]
    assert len(rects) == 3 + 2  # the layers, the image, the classifier
    assert len(arcs) == 1  # layer 0 -> layer 2 skips layer 1
    assert "48@3x3" in " ".join(a.text for a in fig.layout.annotations)


def test_refresh_saves_figures_and_note_to_the_study(searched) -> None:
    study, _, callback = searched
    saved = callback.refresh(study)
    assert sorted(saved) == sorted(FIGURE_IDS)
    objects = _saved_figures(study)
    assert set(objects) == set(FIGURE_IDS.values())
    titles = {json.loads(o)["layout"]["title"]["text"].split("<br>")[0] for o in objects.values()}
    assert "Controller: reward and baseline" in titles
    assert "Best architecture (trial" in " ".join(titles)
    assert "## RL-NAS controller" in get_note(study)
    assert callback.last_refresh_s is not None


def test_callback_refreshes_on_the_first_trial_and_every_n(tmp_path) -> None:
    study, _, callback = _search(f"sqlite:///{tmp_path / 'd.db'}", n_trials=7, every=3)
    assert callback.n_refreshes == 3  # after trials 1, 3 and 6
    assert set(_saved_figures(study)) == set(FIGURE_IDS.values())


def test_refresh_overwrites_smaller_figures_without_leftovers(tmp_path) -> None:
    study, _, callback = _search(f"sqlite:///{tmp_path / 'd.db'}", n_trials=3, every=1)
    callback.refresh(study)
    for text in _saved_figures(study).values():
        json.loads(text)  # whole JSON: a shorter figure left no stale chunk behind


def test_refresh_works_on_postgresql(postgres_url, study_name) -> None:
    from optuna_rlnas.storage import make_storage

    storage = make_storage(postgres_url)
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(
        direction="maximize", sampler=sampler, storage=storage, study_name=study_name
    )
    study.optimize(_objective, n_trials=5, catch=(RuntimeError,))
    DashboardCallback(sampler).refresh(study)
    loaded = optuna.load_study(study_name=study_name, storage=storage)
    assert set(_saved_figures(loaded)) == set(FIGURE_IDS.values())
    optuna.delete_study(study_name=study_name, storage=storage)


def test_multi_objective_study_gets_the_figures_its_reward_fn_allows() -> None:
    sampler = RLNASSampler(seed=0, reward_fn=lambda values: values[0] - values[1])
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial):
        value = _objective(trial)
        return value, trial.user_attrs["n_params"] / 1000

    study.optimize(objective, n_trials=6, catch=(RuntimeError,))
    saved = DashboardCallback(sampler).refresh(study)
    assert sorted(saved) == sorted(FIGURE_IDS)


def test_study_without_trials_saves_only_the_note() -> None:
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    assert DashboardCallback(sampler).refresh(study) == []
    assert "## RL-NAS controller" in get_note(study)


def test_callback_validates_its_arguments() -> None:
    with pytest.raises(TypeError, match="RLNASSampler"):
        DashboardCallback(optuna.samplers.RandomSampler())
    with pytest.raises(ValueError, match="every must be an int >= 1, but got 0"):
        DashboardCallback(RLNASSampler(seed=0), every=0)


def test_search_wiring_names_the_objective_for_the_dashboard() -> None:
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    (callback,) = dashboard_callbacks(study, sampler, 5, RewardConfig())
    assert isinstance(callback, DashboardCallback)
    assert study.metric_names == ["validation accuracy"]
    costly = optuna.create_study(direction="maximize")
    assert (
        dashboard_callbacks(
            costly, costly.sampler, 5, RewardConfig("val_acc", 5, "max", "params", 1e5)
        )
        == []
    )
    assert costly.metric_names == ["validation accuracy × (params / 100000)^-0.07"]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_search_wiring_keeps_a_name_already_set() -> None:
    study = optuna.create_study(direction="maximize")
    study.set_metric_names(["top-1"])
    dashboard_callbacks(study, study.sampler, 0, RewardConfig())
    assert study.metric_names == ["top-1"]


def test_dashboard_command_refuses_a_missing_artifact_folder(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    optuna.create_study(storage=url)
    missing = str(tmp_path / "nowhere")
    assert main(["dashboard", "--storage", url, "--artifact-dir", missing]) == 2
    err = capsys.readouterr().err
    assert f"--artifact-dir must be an existing folder, but got {missing!r}" in err


def test_the_note_names_the_reward_models_recommendation_when_it_is_not_the_best_trial() -> None:
    # A noisy objective: the best single value is a lucky evaluation, and the model's
    # recommendation (best posterior mean) is another trial, which the note names.
    rng = np.random.default_rng(1)

    def objective(trial: optuna.Trial) -> float:
        a = trial.suggest_categorical("a", [0, 1, 2, 3])
        b = trial.suggest_categorical("b", [0, 1, 2, 3])
        return a + b + rng.normal(0.0, 2.0)

    sampler = RLNASSampler(seed=1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    recommended = sampler.recommended_trial(study)
    assert recommended is not None and recommended.number != study.best_trial.number
    note = DashboardCallback(sampler).note(study)
    assert f"### The reward model recommends trial {recommended.number}" in note

    plain = RLNASSampler(seed=1, model=None)  # no model: no recommendation apart from best_trial
    assert "recommends" not in DashboardCallback(plain).note(study)
