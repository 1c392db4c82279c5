"""RLNASSampler through real Optuna studies."""

from __future__ import annotations

import json
import math
import pickle
import warnings

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from optuna_rlnas import ControllerConfig
from optuna_rlnas import Decision
from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas import layer_param
from optuna_rlnas import paper_reward
from optuna_rlnas import skip_param

optuna.logging.set_verbosity(optuna.logging.WARNING)


def conditional_objective(trial: optuna.Trial) -> float:
    """Number of layers first, then per layer a categorical, an int with step and a float."""
    n = trial.suggest_int("num_layers", 1, 4)
    score = 0.0
    for i in range(n):
        activation = trial.suggest_categorical(layer_param(i, "activation"), ["relu", "tanh", None])
        filters = trial.suggest_int(layer_param(i, "filters"), 16, 64, step=16)
        dropout = trial.suggest_float(layer_param(i, "dropout"), 0.0, 0.5)
        score += (activation == "relu") + filters / 64 - dropout
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    return score - abs(np.log10(lr) + 3)


def test_conditional_space_200_trials_complete_without_warnings() -> None:
    study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any per-trial warning fails the test
        study.optimize(conditional_objective, n_trials=200)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 200
    for trial in study.trials:
        record = trial.system_attrs["rlnas:trial"]
        assert record["decisions"] == list(trial.params)
        assert record["log_prob"] <= 0 and record["entropy"] >= 0
    assert study.sampler.n_consumed == 199  # the last trial finishes after its before_trial


def test_sampler_pickles_and_continues() -> None:
    study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=1))
    study.optimize(conditional_objective, n_trials=30)
    restored = pickle.loads(pickle.dumps(study.sampler))
    assert restored.n_updates == study.sampler.n_updates
    for a, b in zip(restored.controller.parameters(), study.sampler.controller.parameters()):
        assert torch.equal(a, b)
    # Both continue identically: same state, same generator.
    twin = optuna.create_study(direction="maximize", sampler=restored)
    for t in study.trials:
        twin.add_trial(t)
    study.optimize(conditional_objective, n_trials=10)
    twin.optimize(conditional_objective, n_trials=10)
    assert [t.params for t in study.trials[30:]] == [t.params for t in twin.trials[30:]]


def _enqueued_study(sampler: RLNASSampler) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for k in range(48):  # enqueued: the controller chose none of these
        study.enqueue_trial({"x": ["a", "b", "c"][k % 3]})
    study.optimize(lambda t: float(t.suggest_categorical("x", ["a", "b", "c"]) == "c"), n_trials=49)
    return study


def test_enqueued_trials_carry_no_policy_gradient() -> None:
    # Eq. (2) sums log P over the actions the policy chose; it chose none of these.
    config = UpdateConfig(learning_rate=0.05, trials_per_update=4, priority_queue_size=0)
    sampler = RLNASSampler(seed=0, update=config)
    study = _enqueued_study(sampler)
    assert sampler.n_consumed == 48 and sampler.n_updates == 12
    assert study.trials[0].system_attrs["rlnas:trial"]["sampled"] == []
    untouched = RLNASSampler(seed=0, update=config)
    untouched.controller.register(Decision("x", 3))  # the head the last trial drew from
    for a, b in zip(sampler.controller.parameters(), untouched.controller.parameters()):
        assert torch.equal(a, b)


def test_enqueued_trials_teach_through_the_priority_queue() -> None:
    # Maximum likelihood of the best children is valid whoever picked them.
    config = UpdateConfig(learning_rate=0.05, trials_per_update=4, priority_queue_size=1)
    sampler = RLNASSampler(seed=0, update=config)
    study = _enqueued_study(sampler)
    probs = sampler.decision_probabilities(study.trials[-1])["x"]
    assert probs["c"] > 0.6, probs


def test_partly_fixed_parameters_condition_later_decisions() -> None:
    study = optuna.create_study(sampler=RLNASSampler(seed=0))
    study.enqueue_trial({"num_layers": 3})
    study.optimize(conditional_objective, n_trials=1)
    record = study.trials[0].system_attrs["rlnas:trial"]
    assert record["decisions"][0] == "num_layers" and "num_layers" not in record["sampled"]
    assert len(record["sampled"]) == 3 * 3 + 1


def test_each_finished_trial_is_consumed_once_by_each_sampler() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(conditional_objective, n_trials=20)
    study.optimize(lambda t: float("nan"), n_trials=2)  # FAIL: consumed, never a reward
    late = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=5))
    study.sampler = late
    study.optimize(conditional_objective, n_trials=1)
    assert late.n_consumed == 22 and late.n_updates == 4
    study.optimize(conditional_objective, n_trials=1)
    assert late.n_consumed == 23 and late.n_updates == 4  # the new one waits in the batch


@pytest.mark.parametrize("consider_pruned", [True, False])
def test_pruned_trials_teach_with_their_last_intermediate_value(consider_pruned: bool) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_categorical("x", [0, 1])
        trial.report(float(x), step=0)
        raise optuna.TrialPruned()

    sampler = RLNASSampler(
        seed=0, consider_pruned_trials=consider_pruned, update=UpdateConfig(trials_per_update=1)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=6)
    assert sampler.n_consumed == 5
    assert sampler.n_updates == (5 if consider_pruned else 0)


def test_minimize_turns_values_into_negative_rewards() -> None:
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=1))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(lambda t: 10.0 + t.suggest_float("x", 0, 1), n_trials=5)
    assert sampler.baseline is not None and -11.0 <= sampler.baseline <= -10.0


def test_reward_fn_shapes_the_reward() -> None:
    sampler = RLNASSampler(
        seed=0, reward_fn=lambda v: v**3, update=UpdateConfig(trials_per_update=1)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: 2.0 + 0 * t.suggest_float("x", 0, 1), n_trials=3)
    assert sampler.baseline == pytest.approx(8.0)


def test_an_infeasible_child_teaches_the_lowest_reward_taught_before_it() -> None:
    # Constraints through Optuna's own trial.set_constraint (feasible when <= 0); an infeasible
    # child may complete or be pruned untrained (the CNN objective prunes it, no reports).
    infeasible = {0, 3, 4}

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_categorical("x", [0, 1, 2, 3])
        trial.set_constraint("size", 1.0 if trial.number in infeasible else -0.5)
        if trial.number == 4:
            raise optuna.TrialPruned()
        return float(10 + trial.number) if trial.number != 2 else 5.0

    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=6)
    sampler.consume(study)
    rewards = {r.trial: r.reward for r in sampler.reward_history}
    assert 0 not in rewards  # before any reward there is no scale: it teaches nothing
    assert rewards[1] == 11.0 and rewards[2] == 5.0
    assert rewards[3] == 5.0 and rewards[4] == 5.0  # the lowest so far, completed or pruned
    assert rewards[5] == 15.0
    assert sampler.reward(study, study.trials[3]) == 5.0


def test_multi_objective_needs_a_reward_fn() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=RLNASSampler(seed=0))
    with pytest.raises(ValueError, match="needs a reward_fn that turns the 2 objective values"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.0), n_trials=1)


def test_records_are_json() -> None:
    study = optuna.create_study(sampler=RLNASSampler(seed=0))
    study.optimize(conditional_objective, n_trials=3)
    for trial in study.trials:
        json.dumps(trial.system_attrs["rlnas:trial"])
        assert set(trial.user_attrs) == {"rlnas:log_prob", "rlnas:entropy"}


def skip_objective(trial: optuna.Trial) -> float:
    total = 0.0
    for i in range(3):
        total += trial.suggest_categorical(layer_param(i, "filters"), [8, 16])
        for j in range(i):
            total += trial.suggest_categorical(skip_param(i, j), [False, True])
    return total


def test_skip_decisions_go_through_the_attention() -> None:
    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(skip_objective, n_trials=2)
    before = sampler.decision_probabilities(study.trials[-1])
    with torch.no_grad():
        sampler.controller.v.weight.mul_(100.0)  # touch only the attention's v
    after = sampler.decision_probabilities(study.trials[-1])
    for name in before:
        changed = before[name] != after[name]
        assert changed == ("/skip_" in name), name


def test_skip_parameter_must_be_a_boolean_categorical() -> None:
    study = optuna.create_study(sampler=RLNASSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_int(layer_param(0, "filters"), 1, 3)
        return trial.suggest_int(skip_param(1, 0), 0, 5)

    study.optimize(objective, n_trials=1, catch=(ValueError,))
    assert study.trials[0].state == TrialState.FAIL
    with pytest.raises(ValueError, match=r"must be a categorical with the choices \(False, True\)"):
        study.optimize(objective, n_trials=1)


def test_threads_share_one_sampler() -> None:
    study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=0))
    study.optimize(conditional_objective, n_trials=40, n_jobs=4)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for trial in study.trials:
        assert trial.system_attrs["rlnas:trial"]["decisions"] == list(trial.params)


def test_startup_trials_come_from_the_independent_sampler() -> None:
    study = optuna.create_study(sampler=RLNASSampler(seed=0, n_startup_trials=5))
    study.optimize(conditional_objective, n_trials=8)
    chosen = [bool(t.system_attrs["rlnas:trial"]["sampled"]) for t in study.trials]
    assert chosen == [False] * 5 + [True] * 3  # startup trials are still recorded, as forced


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"seed": -1}, ValueError, r"seed must be None or an int in \[0, 2\*\*32\), but got -1"),
        ({"n_bins": 1}, ValueError, "n_bins must be an int >= 2, but got 1"),
        ({"n_bins": 2000}, ValueError, "n_bins must be at most 1024, but got 2000"),
        ({"n_startup_trials": -3}, ValueError, "n_startup_trials must be an int >= 0, but got -3"),
        ({"reward_fn": 3}, TypeError, "reward_fn must be callable or None, but got 3"),
        ({"update": {"learning_rate": 1}}, TypeError, "update must be an UpdateConfig"),
    ],
)
def test_invalid_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        RLNASSampler(**kwargs)


def _target_problem(seed: int):
    target = np.random.RandomState(100 + seed).randint(0, 4, size=8)

    def objective(trial: optuna.Trial) -> float:
        return float(
            sum(trial.suggest_categorical(f"d{i}", [0, 1, 2, 3]) == target[i] for i in range(8))
        )

    return target, objective


@pytest.mark.slow
def test_controller_finds_a_hidden_target_far_more_often_than_random_search() -> None:
    """8 decisions x 4 choices, reward = decisions matching a hidden target (4^8 = 65,536)."""
    n_trials, seeds = 300, range(4)
    controller_hits = random_hits = 0
    for seed in seeds:
        target, objective = _target_problem(seed)
        sampler = RLNASSampler(seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=n_trials)
        probs = sampler.decision_probabilities(study.trials[-1])
        greedy = [int(max(p, key=p.get)) for p in probs.values()]
        controller_hits += greedy == list(target)
        baseline = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
        )
        baseline.optimize(objective, n_trials=n_trials)
        random_hits += baseline.best_value == 8
    # Random search finds the target within 300 trials with probability 1 - (1 - 4**-8)**300,
    # about 0.5%; the controller's most likely architecture should be the target nearly always.
    assert controller_hits >= 3 and random_hits <= 1, (controller_hits, random_hits)


# --- the reward follows the study (issue 10) ---------------------------------------------------


def test_paper_reward_refuses_a_minimising_study_and_fails_the_trial() -> None:
    study = optuna.create_study(sampler=RLNASSampler.paper(seed=0))  # minimise by default
    with pytest.raises(ValueError, match="paper_reward .* needs a study with direction='maximize"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # not left RUNNING


def test_paper_reward_refuses_a_percentage() -> None:
    assert paper_reward(0.5) == 0.125
    with pytest.raises(ValueError, match=r"accuracy in \[0, 1\], but got 97"):
        paper_reward(97)


def test_paper_accepts_overrides() -> None:
    sampler = RLNASSampler.paper(seed=0, controller=ControllerConfig(hidden_size=8), n_bins=4)
    assert sampler.controller_config.hidden_size == 8
    assert sampler.update_config == UpdateConfig.paper()  # the rest stays the paper's


# --- an exception before a trial (issue 10) ----------------------------------------------------


def test_a_failing_reward_fails_the_trial_and_keeps_the_batch() -> None:
    broken = {"on": True}

    def reward_fn(value: float) -> float:
        if broken["on"] and value > 2:
            raise RuntimeError("reward service down")
        return value

    sampler = RLNASSampler(seed=0, reward_fn=reward_fn, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for value in (1.0, 2.0, 3.0, 4.0):
        study.enqueue_trial({"x": value})
    objective = lambda t: t.suggest_float("x", 0, 5)  # noqa: E731
    with pytest.raises(RuntimeError, match="reward service down"):
        study.optimize(objective, n_trials=5)
    # Trial 3's before_trial met the failing reward of trial 2: trial 3 FAIL, the error raised.
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert sampler.n_consumed == 2 and sampler.n_updates == 1  # nothing of the failed read
    broken["on"] = False
    study.optimize(objective, n_trials=2)
    assert sampler.n_consumed == 5 and sampler.n_updates == 2  # trial 2 was not lost
    assert [r.trial for r in sampler.reward_history] == [0, 1, 2, 4]


# --- a correct gradient (issue 11, item 5) -----------------------------------------------------


def test_a_fixed_parameter_carries_no_gradient_into_its_head() -> None:
    # (The priority queue's maximum likelihood covers every step, drawn or not: off here.)
    config = UpdateConfig(trials_per_update=2, learning_rate=0.1, priority_queue_size=0)
    sampler = RLNASSampler(seed=0, update=config)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for k in range(12):  # "x" fixed in every trial; "y" drawn
        study.enqueue_trial({"x": k % 3})
    study.optimize(
        lambda t: t.suggest_int("x", 0, 2) + t.suggest_int("y", 0, 2) * (t.number % 2), n_trials=12
    )
    assert sampler.n_updates >= 5
    fresh = RLNASSampler(seed=0, update=config).controller
    fresh.register(Decision("x", 3)), fresh.register(Decision("y", 3))
    moved = sampler.controller
    # The head of x is an input's embedding and a softmax the policy never chose from: its
    # softmax rows stay as initialised; y's moved.
    assert torch.equal(moved.head("x")[2], fresh.head("x")[2])
    assert torch.equal(moved.head("x")[3], fresh.head("x")[3])
    assert not torch.equal(moved.head("y")[2], fresh.head("y")[2])


def test_recorded_log_prob_sums_the_drawn_steps_only() -> None:
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=100))  # no update
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"a": 1})
    study.optimize(lambda t: t.suggest_int("a", 0, 3) + t.suggest_int("b", 0, 3), n_trials=1)
    trial = study.trials[0]
    record = trial.system_attrs["rlnas:trial"]
    assert record["sampled"] == ["b"]
    probs = sampler.decision_probabilities(trial)  # the policy that drew b (unchanged since)
    expected = math.log(probs["b"][repr(trial.params["b"])])
    assert record["log_prob"] == pytest.approx(expected, rel=1e-5)


def test_startup_is_decided_once_per_trial() -> None:
    # Trial 1 starts in the startup phase; while it runs, other trials finish and are consumed
    # past n_startup_trials. Its later suggestions must still come from the startup sampler.
    sampler = RLNASSampler(seed=0, n_startup_trials=2)
    study = optuna.create_study(sampler=sampler)
    first = study.ask()
    first.suggest_int("a", 0, 3)
    study.tell(first, 1.0)
    running = study.ask()  # consumed: 1 < 2, a startup trial
    running.suggest_int("a", 0, 3)
    for _ in range(2):
        other = study.ask()
        other.suggest_int("a", 0, 3)
        study.tell(other, 1.0)
    study.ask()  # consumes the two: 3 >= 2
    assert sampler.n_consumed == 3
    running.suggest_int("b", 0, 3)
    study.tell(running, 1.0)
    record = study.trials[1].system_attrs["rlnas:trial"]
    assert record["sampled"] == [] and record["startup"] is True


def test_the_sampler_leaves_torch_thread_count_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.set_num_threads is process-wide: a thread whose first torch call falls inside a
    # change keeps the changed count for life (docs/throughput.md).
    def refuse(n: int) -> None:
        raise AssertionError(f"the sampler called torch.set_num_threads({n})")

    old = torch.get_num_threads()
    torch.set_num_threads(2)  # more than one, or there is nothing to change
    monkeypatch.setattr(torch, "set_num_threads", refuse)
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    try:
        study.optimize(conditional_objective, n_trials=10)
    finally:
        monkeypatch.undo()
        torch.set_num_threads(old)
    assert sampler.n_updates == 4


def test_reward_history_gives_the_baseline_each_reward_was_compared_with() -> None:
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2, baseline_decay=0.5))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    values = iter([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
    study.optimize(lambda t: next(values) + 0 * t.suggest_int("x", 0, 1), n_trials=6)
    history = sampler.reward_history  # trial 5 is not consumed yet (it ends after its start)
    assert [(r.trial, r.reward) for r in history] == [(0, 1), (1, 3), (2, 5), (3, 7), (4, 9)]
    # b starts at the first batch's mean, then b <- b + 0.5 (R - b) per reward (Eq. 2).
    assert [r.baseline for r in history] == [2.0, 2.0, 2.25, 2.25, None]
    assert [r.update for r in history] == [0, 0, 1, 1, None]
