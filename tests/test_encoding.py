"""Parameters to decisions and back: action maps, the record, the replay of stored trials."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas import layer_param
from optuna_rlnas import skip_param

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_categorical_values_come_from_the_choices_passed() -> None:
    # Optuna's equality equates [1, 2], [1.0, 2.0] and [True, 2]: one head, but the value
    # returned must be one of the choices this suggest passed.
    seen = []

    def objective(trial: optuna.Trial) -> float:
        choices = [[1, 2], [1.0, 2.0], [True, 2]][trial.number % 3]
        value = trial.suggest_categorical("w", choices)
        seen.append((choices, value))
        return float(value)

    study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=0))
    study.optimize(objective, n_trials=9)
    for choices, value in seen:
        assert any(value == c and type(value) is type(c) for c in choices), (choices, value)


def test_float_over_the_whole_double_range_spreads_over_it() -> None:
    # The width (1e308 - -1e308) / n_bins overflows to inf; every value used to be 1e308.
    study = optuna.create_study(sampler=RLNASSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", -1e308, 1e308) * 0.0, n_trials=20)
    values = [t.params["x"] for t in study.trials]
    assert all(math.isfinite(v) and -1e308 <= v <= 1e308 for v in values)
    assert min(values) < 0 < max(values) and len(set(values)) == 20


@pytest.mark.parametrize(
    ("n_bins", "message"),
    [(10**7, "n_bins must be at most 1024, but got 10000000"), (1, "n_bins must be an int >= 2")],
)
def test_n_bins_is_bounded(n_bins: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RLNASSampler(n_bins=n_bins)


def _float_study(n_bins: int, n_trials: int) -> optuna.Study:
    sampler = RLNASSampler(seed=0, n_bins=n_bins, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=n_trials)
    return study


def test_replay_refuses_a_record_made_with_another_n_bins() -> None:
    recorded = _float_study(n_bins=16, n_trials=6)
    assert recorded.trials[0].system_attrs["rlnas:trial"]["n_actions"] == [16]
    other = RLNASSampler(seed=0, n_bins=8, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(direction="maximize", sampler=other)
    study.add_trials(recorded.trials)
    with pytest.warns(UserWarning, match=r"trial 0: .*'x' 16 actions.* has 8 .*another n_bins"):
        assert other.consume(study) == 6
    assert other.n_updates == 0  # consumed, never learned from with misread actions
    same = RLNASSampler(seed=0, n_bins=16, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(direction="maximize", sampler=same)
    study.add_trials(recorded.trials)
    assert same.consume(study) == 6 and same.n_updates == 3


def test_a_stored_trial_with_a_bad_skip_parameter_is_skipped_with_a_warning() -> None:
    # A trial added by hand (or by another sampler) whose skip parameter is not boolean: the
    # replay cannot encode it. It is consumed without a reward; the study goes on.
    study = optuna.create_study(
        direction="maximize",
        sampler=RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=1)),
    )
    good = {layer_param(0, "f"): CategoricalDistribution([8, 16])}
    bad = {**good, skip_param(1, 0): IntDistribution(0, 5)}
    study.add_trial(optuna.trial.create_trial(params={"layer_0/f": 8}, distributions=good, value=1))
    study.add_trial(
        optuna.trial.create_trial(
            params={"layer_0/f": 8, "layer_1/skip_0": 3}, distributions=bad, value=2
        )
    )
    with pytest.warns(UserWarning, match=r"trial 1: 'layer_1/skip_0' is named as a skip"):
        study.optimize(lambda t: float(t.suggest_categorical("layer_0/f", [8, 16])), n_trials=2)
    assert [t.state for t in study.trials[2:]] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.sampler.n_updates == 2  # trials 0 and 2; trial 1 taught nothing


def test_record_round_trip_and_old_records() -> None:
    from optuna_rlnas._record import TrialRecord

    record = TrialRecord(("a", "b"), (1, 0), (3, 2), (False, True), -0.7, 0.6, 4, False)
    assert TrialRecord.from_json(record.to_json()) == record
    assert record.to_json()["sampled"] == ["b"]
    old = {"decisions": ["a"], "actions": [1], "sampled": ["a"], "log_prob": -1.0,
           "entropy": 1.0, "update": 0}  # written before n_actions existed
    assert TrialRecord.from_json(old).n_actions is None
    for corrupt in ({**old, "n_actions": [1]}, {**old, "sampled": ["z"]}, {**old, "update": "0"}):
        assert TrialRecord.from_json(corrupt) is None  # action 1 of 1, unknown name, bad type


def test_values_map_back_to_their_actions() -> None:
    from optuna_rlnas._actions import ActionMap

    rng = np.random.RandomState(0)
    for distribution in (
        FloatDistribution(-1e308, 1e308),
        FloatDistribution(1e-8, 1.0, log=True),
        IntDistribution(0, 10**6),
        FloatDistribution(0.0, 1.0, step=0.25),
    ):
        actions = ActionMap(distribution, 16)
        for a in range(actions.n_actions):
            assert actions.action(actions.value(a, rng)) in (a, a - 1, a + 1)  # snapping may
            # move a value across a bin edge; never further
