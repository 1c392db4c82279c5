"""Resume by replay: a sampler that joins a study rebuilds the policy an uninterrupted one has."""

from __future__ import annotations

import math

import optuna
import pytest
import torch

from optuna_rlnas import Decision
from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig


def objective(trial: optuna.Trial) -> float:
    n = trial.suggest_int("num_layers", 1, 3)
    score = 0.0
    for i in range(n):
        width = trial.suggest_categorical(f"layer_{i}/width", [8, 16, 32, 64])
        act = trial.suggest_categorical(f"layer_{i}/activation", ["relu", "tanh"])
        score += math.log2(width) / 6 + (0.1 if act == "relu" else 0.0)
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    return score / 3


def make_sampler(seed: int = 7) -> RLNASSampler:
    return RLNASSampler(seed=seed, update=UpdateConfig(trials_per_update=4, learning_rate=0.05))


def parameters(sampler: RLNASSampler) -> dict[str, torch.Tensor]:
    """The controller's parameters by name, heads by decision key (index order may differ)."""
    c = sampler.controller
    out = {k: v.detach().clone() for k, v in c.named_parameters() if k not in HEADS}
    for key in c.keys:
        for table, rows in zip(HEADS, c.head(key)):
            out[f"{table}[{key}]"] = rows.detach().clone()
    return out


HEADS = ("decision_embedding", "action_embedding", "head_weight", "head_bias")


def assert_same_policy(a: RLNASSampler, b: RLNASSampler) -> None:
    pa, pb = parameters(a), parameters(b)
    assert pa.keys() == pb.keys()
    for name in pa:
        torch.testing.assert_close(pa[name], pb[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def stopped_study() -> tuple[optuna.storages.BaseStorage, RLNASSampler]:
    """100 trials by one sampler; the sampler then catches up with the last one."""
    sampler = make_sampler()
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name="resume", storage=storage, sampler=sampler, direction="maximize"
    )
    study.optimize(objective, n_trials=100)
    sampler.consume(study)
    return storage, sampler


def load(storage: optuna.storages.BaseStorage, sampler: RLNASSampler) -> optuna.Study:
    """A fresh copy of the stopped study, as a new process would see it, with ``sampler``."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    study.add_trials(optuna.load_study(study_name="resume", storage=storage).trials)
    return study


def test_restarted_sampler_replays_to_the_same_policy(stopped_study) -> None:
    storage, uninterrupted = stopped_study
    restarted = make_sampler()
    study = load(storage, restarted)
    assert restarted.n_consumed == 0 and restarted.n_updates == 0
    assert restarted.consume(study) == 100
    assert restarted.n_updates == uninterrupted.n_updates == 25
    assert restarted.baseline == pytest.approx(uninterrupted.baseline, rel=1e-9)
    assert_same_policy(restarted, uninterrupted)
    for trial in study.trials[-5:]:  # the policy's probabilities along recorded paths agree
        got = restarted.decision_probabilities(trial)
        want = uninterrupted.decision_probabilities(trial)
        assert got.keys() == want.keys() and got
        for name in got:
            assert got[name] == pytest.approx(want[name], rel=1e-5, abs=1e-7)


def test_replay_rebuilds_the_reward_history(stopped_study) -> None:
    storage, uninterrupted = stopped_study
    restarted = make_sampler()
    restarted.consume(load(storage, restarted))
    assert len(uninterrupted.reward_history) == 100
    assert restarted.reward_history == uninterrupted.reward_history  # baselines included, exactly


def objective_failing_once(trial: optuna.Trial) -> float:
    """``objective``, but trial 6 draws two decisions no earlier trial had, then fails; from
    trial 20 on, every trial draws one of them."""
    if trial.number == 6:
        trial.suggest_categorical("layer_9/width", [8, 16, 32])
        trial.suggest_float("momentum", 0.5, 0.99)
        raise RuntimeError("the child diverged")
    if trial.number >= 20:
        return objective(trial) + trial.suggest_float("momentum", 0.5, 0.99) / 10
    return objective(trial)


def test_resume_after_a_failed_trial_is_exact() -> None:
    # The failed trial registered heads that no batch ever uses; a replay never meets them. They
    # must neither move nor change how the others move (per-row Adam, moving touched rows only).
    uninterrupted = make_sampler()
    study = optuna.create_study(sampler=uninterrupted, direction="maximize")
    study.optimize(objective_failing_once, n_trials=40, catch=(RuntimeError,))
    uninterrupted.consume(study)
    assert study.trials[6].state == optuna.trial.TrialState.FAIL
    restarted = make_sampler()
    replay = optuna.create_study(sampler=restarted, direction="maximize")
    replay.add_trials(study.trials)
    assert restarted.consume(replay) == 40 and restarted.n_updates == uninterrupted.n_updates
    live, replayed = parameters(uninterrupted), parameters(restarted)
    only_live = {k for k in live if "layer_9/width" in k}
    assert only_live and set(live) - only_live == set(replayed)
    # Float tolerance, not bitwise: the order of the controller's rows differs between the two
    # (decisions registered in another order), and matrix products are not guaranteed to round
    # alike on differently placed memory. Bitwise equal on the machine this was written on.
    for name in replayed:
        torch.testing.assert_close(live[name], replayed[name], rtol=1e-5, atol=1e-6, msg=name)
    fresh = make_sampler().controller
    for decision in (Decision("layer_9/width", 3),):
        fresh.register(decision)
        heads = zip(uninterrupted.controller.head(decision.key), fresh.head(decision.key))
        for mine, initial in heads:
            assert torch.equal(mine, initial)  # registered, never used: never moved


def test_replay_comparison_detects_another_seed(stopped_study) -> None:
    # The check above can fail: another seed gives another policy from the same history.
    storage, uninterrupted = stopped_study
    other = make_sampler(seed=8)
    other.consume(load(storage, other))
    assert other.n_updates == uninterrupted.n_updates
    with pytest.raises(AssertionError):
        assert_same_policy(other, uninterrupted)


def test_replay_comparison_detects_a_missing_batch(stopped_study) -> None:
    storage, uninterrupted = stopped_study
    fewer = make_sampler()
    study = optuna.create_study(sampler=fewer, direction="maximize")
    study.add_trials(optuna.load_study(study_name="resume", storage=storage).trials[:96])
    fewer.consume(study)
    assert fewer.n_updates == 24
    with pytest.raises(AssertionError):
        assert_same_policy(fewer, uninterrupted)


def test_restarted_sampler_continues_the_study(stopped_study) -> None:
    storage, _ = stopped_study
    restarted = make_sampler()
    study = load(storage, restarted)
    study.optimize(objective, n_trials=20)
    assert restarted.consume(study) == 120
    assert restarted.n_updates == 30
    assert len(study.trials) == 120
    # The first new trial was sampled by the policy learned from the first 100 trials.
    assert study.trials[100].system_attrs["rlnas:trial"]["update"] == 25


@pytest.mark.postgres
@pytest.mark.slow
def test_restarted_worker_process_rebuilds_the_policy(postgres_url: str, study_name: str) -> None:
    # Real processes on PostgreSQL: one worker runs 100 trials and exits; a new process with the
    # same seed joins and replays. Their recorded states (updates, baseline, a fingerprint of
    # every controller parameter) agree.
    from _worker import last_json
    from _worker import spawn

    from optuna_rlnas.storage import make_storage
    from optuna_rlnas.storage import worker_states

    optuna.create_study(study_name=study_name, storage=make_storage(postgres_url))
    common = ("--seed", "7", "--expect", "100", "--finish-timeout", "60")
    first = last_json(
        spawn(postgres_url, study_name, *common, "--n-trials", "100", "--worker-id", "first")
    )
    joined = last_json(
        spawn(postgres_url, study_name, *common, "--n-trials", "0", "--worker-id", "joined")
    )
    assert first["n_consumed"] == joined["n_consumed"] == 100
    assert first["n_updates"] == joined["n_updates"] == 25
    assert joined["baseline"] == pytest.approx(first["baseline"], rel=1e-9)
    assert joined["param_sq_norm"] == pytest.approx(first["param_sq_norm"], rel=1e-6)
    study = optuna.load_study(study_name=study_name, storage=make_storage(postgres_url))
    assert sorted(worker_states(study)) == ["first", "joined"]
