"""The model-guided controller through real Optuna studies (issue 11)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import CategoricalDistribution
from optuna.distributions import IntDistribution

from optuna_rlnas import ModelConfig
from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas._policy import PolicySnapshot

optuna.logging.set_verbosity(optuna.logging.WARNING)

CHOICES = ("a", "b", "c")


def small_objective(trial: optuna.Trial) -> float:
    """27 children: three decisions of three choices, the value is deterministic."""
    x = [trial.suggest_categorical(f"x{i}", CHOICES) for i in range(2)]
    k = trial.suggest_int("k", 0, 2)
    return float(sum(c == "c" for c in x) + k)


def test_paper_preset_has_no_model() -> None:
    sampler = RLNASSampler.paper(seed=0, reward_fn=None)
    assert sampler.model_config is None and sampler._guided is None
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(small_objective, n_trials=15)
    assert all("planned" not in t.system_attrs["rlnas:trial"] for t in study.trials)


def test_model_picks_no_evaluated_child_on_a_deterministic_objective() -> None:
    config = ModelConfig(n_startup_trials=5, n_candidates=64)
    study = optuna.create_study(
        direction="maximize", sampler=RLNASSampler(seed=0, model=config)
    )
    study.optimize(small_objective, n_trials=27)
    keys = [tuple(sorted(t.params.items())) for t in study.trials]
    for i, trial in enumerate(study.trials[5:], start=5):
        record = trial.system_attrs["rlnas:trial"]
        if record.get("planned"):
            assert keys[i] not in keys[:i], f"trial {i} repeats an evaluated child"
            assert record["model"]["reevaluates"] is None
    assert sum(bool(t.system_attrs["rlnas:trial"].get("planned")) for t in study.trials) >= 15


def test_model_picked_children_carry_no_policy_gradient() -> None:
    # No priority queue: after the 4 drawn startup children (one update), every child is
    # picked by the model and so teaches the policy nothing; the weights stay as they were.
    sampler = RLNASSampler(
        seed=0,
        model=ModelConfig(n_startup_trials=4, n_candidates=32),
        update=UpdateConfig(trials_per_update=4, priority_queue_size=0),
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(small_objective, n_trials=6)
    assert sampler.n_updates == 1
    before = [p.detach().clone() for p in sampler.controller.parameters()]
    study.optimize(small_objective, n_trials=14)
    assert sampler.n_updates == 4
    assert all(t.system_attrs["rlnas:trial"].get("planned") for t in study.trials[5:19])
    for a, b in zip(before, sampler.controller.parameters()):
        assert torch.equal(a, b.detach()[: len(a)])


def test_policy_trials_still_carry_the_policy_gradient() -> None:
    # With policy_fraction=1 the model never picks: the controller learns as without it.
    sampler = RLNASSampler(
        seed=0,
        model=ModelConfig(n_startup_trials=4, policy_fraction=1.0),
        update=UpdateConfig(trials_per_update=4, priority_queue_size=0),
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(small_objective, n_trials=6)
    before = [p.detach().clone() for p in sampler.controller.parameters()]
    study.optimize(small_objective, n_trials=8)
    after = list(sampler.controller.parameters())
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, after))


def _noisy_study(seed: int) -> optuna.Study:
    """Children of two decisions; child (2, 2) is best on average, a worse child got lucky."""
    rng = np.random.RandomState(seed)
    distributions = {
        "x": CategoricalDistribution(CHOICES),
        "y": IntDistribution(0, 2),
    }
    study = optuna.create_study(direction="maximize")
    for _ in range(6):
        for xi, x in enumerate(CHOICES):
            for y in range(3):
                true = xi + y
                params = {"x": x, "y": y}
                value = true + rng.normal(0.0, 1.0)
                if (x, y) == ("c", 1):
                    value = 9.0 if _ == 0 else true + rng.normal(0.0, 1.0)  # one lucky draw
                study.add_trial(
                    optuna.trial.create_trial(params=params, distributions=distributions,
                                              value=float(value))
                )
    return study


def test_recommendation_is_the_best_posterior_mean_under_noise() -> None:
    study = _noisy_study(0)
    sampler = RLNASSampler(seed=0)
    recommended = sampler.recommended_trial(study)
    assert study.best_trial.params == {"x": "c", "y": 1}  # the lucky evaluation
    assert recommended is not None and recommended.params == {"x": "c", "y": 2}
    assert sampler._guided.guide.noise_fraction > sampler.model_config.noise_threshold


def test_recommendation_is_the_best_trial_without_noise() -> None:
    study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=0))
    study.optimize(small_objective, n_trials=20)
    fresh = RLNASSampler(seed=1)  # rebuilt from storage, another process
    assert fresh.recommended_trial(study).number == study.best_trial.number


def test_model_rebuilt_from_storage_agrees() -> None:
    config = ModelConfig(n_startup_trials=5, n_candidates=64)
    first = RLNASSampler(seed=3, model=config)
    study = optuna.create_study(direction="maximize", sampler=first)
    study.optimize(small_objective, n_trials=15)  # of 27 children: some left to pick
    first.consume(study)
    second = RLNASSampler(seed=3, model=config)
    second.consume(study)
    for sampler in (first, second):
        sampler._guided.guide.posterior()
    a, b = first._guided.guide._hyper, second._guided.guide._hyper
    np.testing.assert_allclose(a.log_theta, b.log_theta, rtol=1e-9)
    assert a.log_noise == pytest.approx(b.log_noise, rel=1e-9)
    plans = [
        s._guided.guide.plan(PolicySnapshot(s.controller), np.random.RandomState(0))
        for s in (first, second)
    ]
    # The same pick; the predictions agree up to the rounding of a factor grown row by row
    # (the running sampler) against one built at once (the rebuilt one).
    assert plans[0] is not None and plans[1] is not None
    assert plans[0].actions == plans[1].actions
    assert plans[0].reevaluates == plans[1].reevaluates
    assert plans[0].mean == pytest.approx(plans[1].mean, rel=1e-6)
    assert plans[0].sd == pytest.approx(plans[1].sd, rel=1e-6)


def test_conditional_space_with_the_model() -> None:
    def objective(trial: optuna.Trial) -> float:
        n = trial.suggest_int("n_layers", 1, 3)
        total = 0.0
        for i in range(n):
            total += trial.suggest_categorical(f"layer_{i}/width", [1, 2, 4])
        opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
        if opt == "sgd":
            total += trial.suggest_float("momentum", 0.0, 1.0)
        return total

    sampler = RLNASSampler(seed=0, model=ModelConfig(n_startup_trials=5, n_candidates=64))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    planned = [t for t in study.trials if t.system_attrs["rlnas:trial"].get("planned")]
    assert len(planned) >= 20
    for trial in study.trials:
        record = trial.system_attrs["rlnas:trial"]
        assert record["decisions"] == list(trial.params)
        assert len(trial.params) == 2 + trial.params["n_layers"] + (
            trial.params["optimizer"] == "sgd"
        )
    assert study.best_value > 12.0  # 3 layers of width 4, sgd with momentum near 1


def test_a_mixed_trial_feeds_the_planned_steps_and_draws_the_unforeseen_ones() -> None:
    # "momentum" exists only under "sgd"; until a finished trial took that branch the plans
    # cannot foresee it, so a planned "sgd" child draws it: one trial, planned and drawn steps.
    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_int("width", 0, 4)
        if trial.suggest_categorical("optimizer", ["adam", "sgd"]) == "sgd":
            return width + trial.suggest_float("momentum", 0.0, 1.0)
        return float(width)

    sampler = RLNASSampler(seed=0, model=ModelConfig(n_startup_trials=3, n_candidates=16))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({"width": 0, "optimizer": "adam"})
    study.enqueue_trial({"width": 1, "optimizer": "adam"})
    study.enqueue_trial({"width": 2, "optimizer": "adam"})
    study.optimize(objective, n_trials=12)
    mixed = 0
    for trial in study.trials:
        record = trial.system_attrs["rlnas:trial"]
        planned, drawn = set(record.get("planned", [])), set(record["sampled"])
        assert not planned & drawn
        mixed += bool(planned and drawn)
        sequence, _ = sampler._encoder.replay(trial)
        # The replay (a restarted worker) sees the planned steps as not drawn.
        assert sequence.drawn == [name in drawn for name in sequence.names]
    assert mixed >= 1


def test_a_child_another_worker_is_training_is_not_picked_again() -> None:
    # Two workers in the same state (a pickled copy: same model, same random stream) plan at
    # the same moment: without the running trial's plan in storage they pick the same child.
    import copy

    storage = optuna.storages.InMemoryStorage()
    config = ModelConfig(n_startup_trials=5, n_candidates=64)
    first = optuna.create_study(
        storage=storage, direction="maximize", sampler=RLNASSampler(seed=0, model=config)
    )
    first.optimize(small_objective, n_trials=8)
    second = optuna.load_study(
        study_name=first.study_name, storage=storage, sampler=copy.deepcopy(first.sampler)
    )
    running = first.ask()
    plan = running.storage.get_trial_system_attrs(running._trial_id)["rlnas:plan"]
    other = second.ask()
    other_plan = other.storage.get_trial_system_attrs(other._trial_id)["rlnas:plan"]
    assert set(plan) == set(other_plan) == {"x0", "x1", "k"}
    assert other_plan != plan
    # What the running trial suggests is its plan, as the other worker assumed.
    small_objective(running)
    params = running.params
    assert {k: CHOICES.index(v) if isinstance(v, str) else v for k, v in params.items()} == plan


def test_running_trials_of_an_in_memory_study_skip_the_finished_head() -> None:
    from optuna.trial import TrialState

    from optuna_rlnas import _optuna_private as private

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(2):
        study.tell(study.ask(), 1.0)  # 0 and 1 finished
    study.ask()  # 2 runs
    study.tell(study.ask(), 0.5)  # 3 finished
    study.ask()  # 4 runs
    expected = [t.number for t in study.get_trials(states=(TrialState.RUNNING,))]
    assert expected == [2, 4]
    for since in (0, 2):  # every trial below ``since`` has finished
        assert [t.number for t in private.running_trials(study, since)] == expected
