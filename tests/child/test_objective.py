from __future__ import annotations

import time

import optuna
import pytest

from optuna_rlnas.child import Architecture
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DepthCurriculum
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import RewardConfig
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import make_datamodule
from optuna_rlnas.child import make_objective
from optuna_rlnas.child import trial_architecture

TINY = CNNSearchSpace(num_layers=2, filters=(8, 12), filter_sizes=(1, 3))


def _study(pruner=None) -> optuna.Study:
    return optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner
    )


def test_lightning_training_on_a_tiny_subset_records_the_trial() -> None:
    objective = make_objective(
        DigitsDataModule(train_subset=128), space=TINY, training=TrainingConfig(epochs=2)
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert 0.0 <= trial.value <= 1.0
    assert sorted(trial.intermediate_values) == [0, 1]  # one report per epoch
    assert trial.value == max(trial.intermediate_values.values())  # best of the last epochs
    attrs = trial.user_attrs
    arch = trial_architecture(trial)
    assert arch is not None and arch.depth == attrs["depth"] == 2
    assert [attrs[f"layer_{i}"] for i in range(2)] == [str(layer) for layer in arch.layers]
    assert Architecture.from_dict(trial.system_attrs["rlnas:architecture"]) == arch
    # optuna-dashboard never wraps an attribute: each fits on a line (docs/dashboard.md).
    assert max(len(str(value)) for value in attrs.values()) <= 60, attrs
    assert attrs["n_params"] > 0 and attrs["train_time_s"] > 0 and attrs["seed"] == 0


def test_trials_are_deterministic_per_seed() -> None:
    params = {"layer_0/filter_height": 3, "layer_0/filter_width": 3, "layer_0/filters": 8}
    space = CNNSearchSpace(num_layers=1, filters=(8, 12), filter_sizes=(1, 3), strides=(1,))
    values = []
    for _ in range(2):
        objective = make_objective(
            DigitsDataModule(train_subset=64), space=space, training=TrainingConfig(epochs=1)
        )
        values.append(objective(optuna.trial.FixedTrial(params)))
    assert values[0] == values[1]


def test_a_real_pruner_prunes_at_the_first_report() -> None:
    objective = make_objective(
        DigitsDataModule(train_subset=64), space=TINY, training=TrainingConfig(epochs=3)
    )
    study = _study(optuna.pruners.ThresholdPruner(lower=1.01))  # no accuracy reaches 1.01
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]


def test_too_large_child_is_pruned_with_its_reason() -> None:
    objective = make_objective(DigitsDataModule(train_subset=64), space=TINY, max_params=10)
    study = _study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert "more than max_params=10" in trial.user_attrs["invalid_reason"]
    assert trial.user_attrs["feasible"] is False and trial.intermediate_values == {}


def test_constrained_search_keeps_every_complete_child_under_the_parameter_budget() -> None:
    # TINY's children have 170 to 1,730 parameters; the bound cuts that range near its middle.
    bound = 800
    objective = make_objective(
        DigitsDataModule(train_subset=64),
        space=TINY,
        training=TrainingConfig(epochs=1),
        max_params=bound,
    )
    study = _study(optuna.pruners.NopPruner())  # only the constraint prunes
    study.optimize(objective, n_trials=10)
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    for trial in study.trials:
        n_params = trial.user_attrs["n_params"]
        # Optuna's own constraint record: feasible when <= 0.
        assert trial.constraints == {"params": pytest.approx(n_params / bound - 1)}
        assert trial.user_attrs["feasible"] == (n_params <= bound)
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert n_params <= bound
        else:
            assert n_params > bound and trial.intermediate_values == {}  # never trained
    assert study.best_trial.user_attrs["n_params"] <= bound


def test_pruned_and_complete_trials_report_on_one_scale() -> None:
    # With a cost, every intermediate value is the reward so far: accuracy times the factor.
    reward = RewardConfig(cost="params", target=100.0)
    objective = make_objective(
        DigitsDataModule(train_subset=64),
        space=TINY,
        training=TrainingConfig(epochs=2),
        reward=reward,
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    complete = study.trials[0]
    factor = (complete.user_attrs["n_params"] / 100.0) ** -0.07
    assert complete.value == complete.intermediate_values[1]  # the final value is the last report
    assert complete.value == pytest.approx(complete.user_attrs["val_acc"] * factor)

    study = _study(optuna.pruners.ThresholdPruner(lower=1.01))
    study.optimize(objective, n_trials=1)
    pruned = study.trials[0]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    factor = (pruned.user_attrs["n_params"] / 100.0) ** -0.07
    assert pruned.intermediate_values[0] == pytest.approx(pruned.user_attrs["val_acc"] * factor)


def test_deadline_prunes_at_the_first_step_past_it() -> None:
    objective = make_objective(
        DigitsDataModule(train_subset=64),
        space=TINY,
        training=TrainingConfig(epochs=3),
        deadline=time.monotonic(),  # already past: stop at the first step
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.intermediate_values == {} and trial.user_attrs["epochs"] == 0


def test_built_depth_is_recorded() -> None:
    space = CNNSearchSpace(
        num_layers=3, filters=(8,), filter_sizes=(1, 3), curriculum=DepthCurriculum(start=1)
    )
    objective = make_objective(
        DigitsDataModule(train_subset=64), space=space, training=TrainingConfig(epochs=1)
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    assert study.trials[0].user_attrs["depth"] == 1


def test_mnasnet_reward() -> None:
    reward = RewardConfig(cost="params", target=1000.0)
    assert reward.reward(0.9, cost=1000.0) == pytest.approx(0.9)
    assert reward.reward(0.9, cost=2000.0) == pytest.approx(0.9 * 2**-0.07)
    assert RewardConfig(last_epochs=2).score([0.9, 0.5, 0.6]) == 0.6
    with pytest.raises(ValueError, match="target must be > 0 when cost is set"):
        RewardConfig(cost="latency")


def test_latency_reward_is_recorded() -> None:
    objective = make_objective(
        DigitsDataModule(train_subset=64),
        space=TINY,
        training=TrainingConfig(epochs=1),
        reward=RewardConfig(cost="latency", target=1.0),
    )
    study = _study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.user_attrs["cost"] > 0
    expected = trial.user_attrs["val_acc"] * (trial.user_attrs["cost"] / 1.0) ** -0.07
    assert trial.value == pytest.approx(expected)


def test_training_on_fashion_mnist_and_cifar10_fixtures(fashion_dir, cifar_dir) -> None:
    for dataset, folder in (("fashion-mnist", fashion_dir), ("cifar10", cifar_dir)):
        dm = make_datamodule(dataset, folder, val_size=10, train_subset=40)
        objective = make_objective(dm, space=TINY, training=TrainingConfig(epochs=1))
        study = _study()
        study.optimize(objective, n_trials=1)
        assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
