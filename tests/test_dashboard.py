"""The dashboard's figure builders and callback, on real small studies (no training, no mocks)."""

from __future__ import annotations

import json

import optuna
import pytest

pytest.importorskip("optuna_dashboard")
pytest.importorskip("plotly")

from optuna_dashboard import get_note  # noqa: E402
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects  # noqa: E402

from optuna_rlnas import RLNASSampler  # noqa: E402
from optuna_rlnas import UpdateConfig  # noqa: E402
from optuna_rlnas.child import Architecture  # noqa: E402
from optuna_rlnas.child import CNNSearchSpace  # noqa: E402
from optuna_rlnas.child import LayerSpec  # noqa: E402
from optuna_rlnas.child import suggest_architecture  # noqa: E402
from optuna_rlnas.dashboard import FIGURE_IDS  # noqa: E402
from optuna_rlnas.dashboard import DashboardCallback  # noqa: E402
from optuna_rlnas.dashboard import architecture_figure  # noqa: E402
from optuna_rlnas.dashboard import baseline_trace  # noqa: E402
from optuna_rlnas.dashboard import entropy_figure  # noqa: E402
from optuna_rlnas.dashboard import policy_figure  # noqa: E402
from optuna_rlnas.dashboard import reward_figure  # noqa: E402
from optuna_rlnas.dashboard import reward_points  # noqa: E402

SPACE = CNNSearchSpace(num_layers=3, strides=(1, 2))


def _objective(trial: optuna.Trial) -> float:
    """A child described like make_objective's, scored without training: wide and skip-rich."""
    arch = suggest_architecture(trial, SPACE)
    trial.set_user_attr("architecture", str(arch))
    trial.set_user_attr("architecture_json", arch.to_json())
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


def test_baseline_trace_replays_the_samplers_baseline(searched) -> None:
    study, sampler, _ = searched
    rewards = [p.reward for p in reward_points(study, sampler)]
    cfg = sampler._update_config
    assert len(rewards) % cfg.trials_per_update == 0  # so the sampler's b is after all of them
    # A reward after these would be measured against the current baseline.
    trace = baseline_trace([*rewards, 0.0], cfg.baseline_decay, cfg.trials_per_update)
    assert len(trace) == len(rewards) + 1
    sampler.consume(study)  # consumes the finished trials, stores nothing
    assert trace[-1] == pytest.approx(sampler.baseline, rel=1e-6)


def test_baseline_trace_starts_at_the_first_batch_mean() -> None:
    assert baseline_trace([], 0.9, 4) == []
    assert baseline_trace([2.0, 4.0], 0.9, 4) == [3.0, 3.0]  # an incomplete first batch


def test_reward_figure_has_rewards_best_and_baseline(searched) -> None:
    study, sampler, _ = searched
    fig = reward_figure(study, sampler)
    names = [trace.name for trace in fig.data]
    assert names == ["reward", "best so far", "baseline b"]
    assert list(fig.data[1].y) == sorted(fig.data[1].y)  # best so far never drops


def test_reward_figure_negates_minimized_values() -> None:
    study, sampler, _ = _search(n_trials=6, direction="minimize", every=100)
    points = reward_points(study, sampler)
    assert points and all(p.reward == -study.trials[p.number].value for p in points)


def test_entropy_figure_groups_trials_by_update(searched) -> None:
    study, _, _ = searched
    fig = entropy_figure(study)
    mean = fig.data[1]
    updates = {t.system_attrs["rlnas:trial"]["update"] for t in study.trials}
    assert list(mean.x) == sorted(updates)
    assert sum(mean.customdata) == len(study.trials)  # every trial counted once
    assert all(y > 0 for y in mean.y)


def test_policy_figure_rows_are_the_trials_decisions(searched) -> None:
    study, sampler, _ = searched
    trial = study.best_trial
    fig = policy_figure(sampler, trial)
    heatmap = fig.data[0]
    assert list(fig.layout.yaxis.ticktext) == trial.system_attrs["rlnas:trial"]["decisions"]
    assert len(heatmap.z) == len(heatmap.y) == len(fig.layout.yaxis.ticktext)
    for row in heatmap.z:
        assert sum(p for p in row if p is not None) == pytest.approx(1.0, abs=1e-3)
    assert heatmap.text[0][: len(SPACE.filter_sizes)] == [str(s) for s in SPACE.filter_sizes]


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
    assert reward_figure(study, sampler).data[1].name == "reward (pruned)"


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
