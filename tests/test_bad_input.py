"""Odd and bad input through the real sampler, storage helper and CLI: a clear error or a
documented behaviour each (docs/scale-out.md, "Bad input")."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas.storage import check_url
from optuna_rlnas.storage import make_storage
from optuna_rlnas.storage import mask_url

SECRET = "s3cr3t-pw"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny LSTM steps: threads only contend on a shared machine
    yield
    torch.set_num_threads(old)


def run(objective, n_trials: int = 12, **kwargs) -> tuple[optuna.Study, RLNASSampler]:
    kwargs.setdefault("update", UpdateConfig(trials_per_update=4))
    sampler = RLNASSampler(seed=0, **kwargs)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    study.optimize(objective, n_trials=n_trials)
    return study, sampler


# --- distributions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "distribution",
    [
        FloatDistribution(0.5, 0.5),  # low == high: one value, Optuna decides it
        IntDistribution(3, 3),
        FloatDistribution(-1e300, 1e300),  # huge range: 16 bins of 1.25e299
        FloatDistribution(1e-300, 1e300, log=True),  # 600 decades in log space
        FloatDistribution(1e-8, 1.0, log=True),
        IntDistribution(1, 2**62, log=True),
        IntDistribution(
            -(7 * 10**14), 7 * 10**14, step=7
        ),  # a wide int grid: bins, snapped to step
        FloatDistribution(0.0, 1.0, step=0.1),  # 11 grid values: one action each
        FloatDistribution(0.0, 1.0, step=0.001),  # 1001 grid values: 16 bins, snapped
        CategoricalDistribution([None, True, 1, 2.5, "a"]),  # mixed choice types
    ],
    ids=repr,
)
def test_odd_distribution_values_stay_in_range(distribution: BaseDistribution) -> None:
    def objective(trial: optuna.Trial) -> float:
        value = trial._suggest("x", distribution)
        assert distribution._contains(distribution.to_internal_repr(value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert math.isfinite(value)
            return float(math.log10(abs(value) + 1))
        return 0.0

    study, sampler = run(objective)
    assert len(study.trials) == 12
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert all(torch.isfinite(p).all() for p in sampler.controller.parameters())


def test_categorical_with_ten_thousand_choices_is_one_action_each() -> None:
    choices = list(range(10_000))

    def objective(trial: optuna.Trial) -> float:
        return float(trial.suggest_categorical("op", choices) % 7)

    study, sampler = run(objective, n_trials=12)
    assert sampler.n_updates == 2  # the 10,000-way head learned from 8 trials
    (n_actions,) = sampler.controller.n_actions
    assert n_actions == 10_000
    assert len({t.params["op"] for t in study.trials}) > 6  # draws spread over the choices
    probabilities = sampler.decision_probabilities(study.trials[0])["op"]
    assert len(probabilities) == 10_000
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_empty_search_space_completes_and_learns_nothing() -> None:
    study, sampler = run(lambda trial: 1.0, n_trials=10)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 10
    assert sampler.consume(study) == 10  # consumed, but nothing to learn from
    assert sampler.n_updates == 0 and not sampler.controller.keys


def test_int_range_that_changes_between_trials_gets_a_head_per_range() -> None:
    def objective(trial: optuna.Trial) -> float:
        high = 3 if trial.number % 2 == 0 else 5
        n = trial.suggest_int("n", 1, high)
        assert 1 <= n <= high
        return float(n)

    study, sampler = run(objective, n_trials=12)
    sampler.consume(study)
    assert sampler.n_updates == 3
    keys = sorted(sampler.controller.keys)
    assert len(keys) == 2 and keys[0] == "n" and keys[1].startswith("n#IntDistribution")
    assert sorted(sampler.controller.n_actions) == [3, 5]


def test_categorical_whose_choices_change_is_refused_by_optuna() -> None:
    def objective(trial: optuna.Trial) -> float:
        choices = ["a", "b"] if trial.number == 0 else ["a", "b", "c"]
        return float(len(trial.suggest_categorical("op", choices)))

    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    with pytest.raises(ValueError, match="CategoricalDistribution does not support dynamic"):
        study.optimize(objective, n_trials=2)
    # Optuna fails the second trial (a new parameter name is the way to change the choices);
    # the first is kept, and the sampler consumes both.
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert sampler.consume(study) == 2


def test_unsupported_distribution_is_a_clear_error() -> None:
    class Weird(BaseDistribution):
        def to_external_repr(self, v):
            return v

        def to_internal_repr(self, v):
            return v

        def single(self) -> bool:
            return False

        def _contains(self, v) -> bool:
            return True

    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    trial = study.ask()
    frozen = study._storage.get_trial(trial._trial_id)
    sampler.before_trial(study, frozen)
    with pytest.raises(ValueError, match="supports CategoricalDistribution.*but got Weird"):
        sampler.sample_independent(study, frozen, "x", Weird())


# --- sampler arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, r"seed must be None or an int in \[0, 2\*\*32\), but got -1"),
        ({"seed": 2**32}, r"seed must be .* but got 4294967296"),
        ({"seed": "0"}, r"seed must be .* but got '0'"),
        ({"n_bins": 1}, r"n_bins must be an int >= 2, but got 1"),
        ({"n_startup_trials": -3}, r"n_startup_trials must be an int >= 0, but got -3"),
        ({"controller": {"hidden_size": 35}}, r"controller must be a ControllerConfig"),
        ({"update": "paper"}, r"update must be an UpdateConfig, but got 'paper'"),
        ({"reward_fn": 3}, r"reward_fn must be callable or None, but got 3"),
    ],
)
def test_invalid_sampler_argument_names_invariant_and_value(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        RLNASSampler(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline_decay": 1.5}, r"baseline_decay must be in \[0, 1\), but got 1.5"),
        ({"trials_per_update": 0}, r"trials_per_update must be >= 1, but got 0"),
        ({"learning_rate": float("nan")}, r"learning_rate must be > 0, but got nan"),
    ],
)
def test_invalid_update_config_names_invariant_and_value(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        UpdateConfig(**kwargs)


# --- storage URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"postgresql://rlnas:{SECRET}@db:5432/nas", "postgresql://rlnas:***@db:5432/nas"),
        (
            f"postgresql+psycopg2://u:{SECRET}@h/d?sslmode=require",
            "postgresql+psycopg2://u:***@h/d?sslmode=require",
        ),
        ("postgresql://u:p%40ss%3Aw@h/d", "postgresql://u:***@h/d"),  # URL-encoded @ and :
        ("postgresql://u@h/d", "postgresql://u@h/d"),  # no password: unchanged
        ("sqlite:///study.db", "sqlite:///study.db"),
        (f"postgresql://u:{SECRET}@h:notaport/d", "postgresql://u:***@h:notaport/d"),  # malformed
    ],
)
def test_mask_url_hides_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must be a non-empty string"),
        (None, "must be a non-empty string"),
        ("nonsense", "is malformed"),
        (f"postgresql://u:{SECRET}@h:notaport/d", "is malformed"),
        (f"foo://u:{SECRET}@h/d", "unknown database 'foo'"),
        (f"postgresql+nodriver://u:{SECRET}@h/d", "unknown database"),
    ],
)
def test_malformed_storage_url_is_a_value_error_without_password(url, message) -> None:
    with pytest.raises(ValueError, match=message) as info:
        check_url(url)
    assert SECRET not in str(info.value)
    with pytest.raises(ValueError):
        make_storage(url)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heartbeat_interval": 0}, r"heartbeat_interval must be None or an int > 0 .* got 0"),
        ({"heartbeat_interval": True}, r"heartbeat_interval must be .* got True"),
        ({"grace_period": -5}, r"grace_period must be None or an int > 0 .* got -5"),
        (
            {"heartbeat_interval": 60, "grace_period": 60},
            r"grace_period must exceed heartbeat_interval .* grace_period=60",
        ),
        ({"max_retry": -1}, r"max_retry must be None or an int >= 0, but got -1"),
    ],
)
def test_invalid_heartbeat_settings(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_storage("sqlite:///:memory:", **kwargs)


def test_unreachable_database_is_a_connection_error_without_password() -> None:
    with pytest.raises(ConnectionError, match=r"cannot open storage 'postgresql://u:\*\*\*@") as e:
        make_storage(f"postgresql://u:{SECRET}@127.0.0.1:1/db")  # nothing listens on port 1
    assert SECRET not in str(e.value) and "Connection refused" in str(e.value)


def test_storage_defaults_turn_heartbeats_and_retries_on() -> None:
    storage = make_storage("sqlite:///:memory:")
    assert (storage.heartbeat_interval, storage.grace_period) == (30, 120)
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert callback._max_retry == 3
    assert storage.engine_kwargs["pool_pre_ping"] is True
    off = make_storage("sqlite:///:memory:", heartbeat_interval=None)
    assert off.heartbeat_interval is None and off.get_heartbeat_stale_trial_callback() is None


# --- what storage holds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "gASVAAAAAAAAAAB9lC4=",  # a base64 pickle: only ever JSON-decoded, never unpickled
        {"decisions": ["a"], "actions": [99]},  # an action out of range
        {"decisions": ["nope"], "actions": [0]},  # decisions that do not match the params
        {"decisions": "a", "actions": None},
        [1, 2, 3],
    ],
    ids=["pickle-string", "bad-action", "bad-decisions", "bad-types", "list"],
)
def test_corrupt_trial_record_falls_back_to_the_params(record) -> None:
    # A joining worker replays what storage holds; a corrupt rlnas:trial record must neither
    # crash it nor be trusted: the trial's params give the actions instead.
    distributions = {"a": CategoricalDistribution([0, 1, 2])}

    def history(attrs: dict) -> optuna.Study:
        study = optuna.create_study(direction="maximize")
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params={"a": a}, distributions=distributions, value=float(a), system_attrs=attrs
                )
                for a in (0, 2, 1, 2)
            ]
        )
        return study

    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2))
    assert sampler.consume(history({"rlnas:trial": record})) == 4
    assert sampler.n_updates == 2
    clean = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2))
    clean.consume(history({}))
    for a, b in zip(sampler.controller.parameters(), clean.controller.parameters()):
        torch.testing.assert_close(a, b)


def test_cli_heartbeat_options_reach_the_storage(tmp_path) -> None:
    from optuna_rlnas import cli

    argv = ["search", "--heartbeat-interval", "5", "--grace-period", "20", "--max-retry", "1"]
    args = cli.build_parser().parse_args(argv)
    assert (args.heartbeat_interval, args.grace_period, args.max_retry) == (5, 20, 1)
    storage = cli.make_storage(
        f"sqlite:///{tmp_path / 'hb.db'}",
        heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period,
        max_retry=args.max_retry,
    )
    assert (storage.heartbeat_interval, storage.grace_period) == (5, 20)
    assert storage.get_heartbeat_stale_trial_callback()._max_retry == 1
