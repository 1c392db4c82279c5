"""The controller alone: sample/score agreement, define-by-run sequences, and learning."""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import pytest
import torch

from optuna_rlnas import Controller
from optuna_rlnas import ControllerConfig
from optuna_rlnas import Decision
from optuna_rlnas import Reinforce
from optuna_rlnas import UpdateConfig
from optuna_rlnas._adam import RowAdam
from optuna_rlnas._policy import PolicySnapshot
from optuna_rlnas._policy import Rollout
from optuna_rlnas._reinforce import touched_rows


def _layered(n_layers: int) -> list[Decision]:
    """A CNN-like sequence: per layer two softmax decisions, then skips to earlier layers."""
    decisions: list[Decision] = []
    last_step: dict[int, int] = {}
    for i in range(n_layers):
        decisions += [Decision(f"layer_{i}/filters", 4), Decision(f"layer_{i}/kernel", 3)]
        for j in range(i):
            decisions.append(Decision(f"layer_{i}/skip_{j}", 2, skip_source=last_step[j]))
        last_step[i] = len(decisions) - 1
    return decisions


@pytest.mark.parametrize(
    "config",
    [
        ControllerConfig.paper(),
        ControllerConfig(),
        ControllerConfig(temperature=5.0, tanh_constant=2.5),
    ],
)
def test_score_agrees_with_sample(config: ControllerConfig) -> None:
    controller = Controller(config, seed=3)
    rng = np.random.RandomState(0)
    sequences, sampled = [], []
    for n_layers in (1, 2, 4):
        decisions = _layered(n_layers)
        actions, log_prob, entropy = controller.sample(decisions, rng)
        sequences.append((decisions, actions))
        sampled.append((log_prob, entropy))
    log_prob, entropy = controller.score(sequences)
    np.testing.assert_allclose(
        log_prob.detach().numpy(), [s[0] for s in sampled], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        entropy.detach().numpy(), [s[1] for s in sampled], rtol=1e-5, atol=1e-5
    )


def test_sample_frequencies_follow_the_policy() -> None:
    controller = Controller(ControllerConfig.paper(), seed=0)  # plain softmax of the logits
    with torch.no_grad():  # make the first decision's head strongly prefer action 2
        controller.register(Decision("x", 3))
        controller.head("x")[3].copy_(torch.tensor([0.0, 0.0, 2.0]))  # its bias
    rng = np.random.RandomState(1)
    snapshot = PolicySnapshot(controller)  # the sampler's path; torch's agrees (test below)
    draws = [Rollout(snapshot).step(Decision("x", 3), rng=rng) for _ in range(3000)]
    expected = np.exp([0.0, 0.0, 2.0]) / np.exp([0.0, 0.0, 2.0]).sum()
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, expected, atol=0.03)


def test_skip_decisions_use_the_attention_path() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    decisions = _layered(3)
    actions = [0] * len(decisions)
    before = controller.score([(decisions, actions)])[0]
    with torch.no_grad():  # only the attention weights change...
        controller.v.weight.mul_(50.0)
    after = controller.score([(decisions, actions)])[0]
    assert not torch.allclose(before, after)
    # ...and the softmax-only sequence does not feel them.
    plain = [d for d in decisions if d.skip_source is None]
    p1 = controller.score([(plain, [0] * len(plain))])[0]
    with torch.no_grad():
        controller.v.weight.mul_(0.1)
    p2 = controller.score([(plain, [0] * len(plain))])[0]
    assert torch.allclose(p1, p2)


def test_huge_skip_logits_sample_without_overflow() -> None:
    controller = Controller(ControllerConfig.paper(), seed=0)  # no tanh bound on the logits
    decisions = _layered(3)
    controller.sample(decisions, np.random.RandomState(0))  # registers every head
    with torch.no_grad():
        controller.v.weight.mul_(1e7)  # skip logits in the thousands: exp would overflow
    with np.errstate(over="raise", invalid="raise"):
        actions, log_prob, entropy = controller.sample(decisions, np.random.RandomState(1))
    assert np.isfinite(log_prob) and np.isfinite(entropy)
    reference = controller.score([(decisions, actions)])[0]
    np.testing.assert_allclose(log_prob, float(reference.detach()), rtol=1e-4, atol=1e-4)


def test_variable_length_and_conditional_sequences_share_heads() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    rng = np.random.RandomState(0)
    short = [Decision("num_layers", 3), Decision("layer_0/filters", 4)]
    long = short + [Decision("layer_1/filters", 4), Decision("layer_1/skip_0", 2, skip_source=1)]
    controller.sample(short, rng)
    controller.sample(long, rng)
    assert set(controller.keys) == {
        "num_layers",
        "layer_0/filters",
        "layer_1/filters",
        "layer_1/skip_0",
    }
    log_prob, _ = controller.score([(short, [0, 1]), (long, [2, 3, 0, 1])])
    assert log_prob.shape == (2,) and torch.isfinite(log_prob).all()


def test_decision_with_other_action_count_is_an_error() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    controller.register(Decision("x", 3))
    with pytest.raises(ValueError, match="registered with 3 actions, but now has 4"):
        controller.register(Decision("x", 4))


def test_initial_weights_are_uniform_in_init_range() -> None:
    controller = Controller(ControllerConfig(init_range=0.08), seed=0)
    controller.register(Decision("x", 5))
    values = torch.cat([p.detach().flatten() for p in controller.parameters()])
    assert values.abs().max() <= 0.08 and values.abs().max() > 0.07


def test_same_seed_same_weights_whatever_the_order() -> None:
    a, b = Controller(seed=7), Controller(seed=7)
    a.register(Decision("x", 3)), a.register(Decision("y", 2))
    b.register(Decision("y", 2)), b.register(Decision("x", 3))
    for mine, theirs in zip(a.head("x"), b.head("x")):
        assert torch.equal(mine, theirs)


def test_sampling_sees_each_update_but_a_running_rollout_keeps_its_policy() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    decisions = [Decision("a", 4), Decision("b", 4)]
    trainer = Reinforce(controller, UpdateConfig(trials_per_update=1, learning_rate=0.5))
    trainer.update([(decisions, [1, 3])], [0.0])  # sets the baseline
    snapshot = PolicySnapshot(controller)
    running = Rollout(snapshot)
    running.step(decisions[0], action=1)
    unchanged = copy.deepcopy(controller)
    trainer.update([(decisions, [1, 3])], [1.0])
    assert controller.version > snapshot.version  # the update made the snapshot stale

    fresh = Rollout(PolicySnapshot(controller))
    fresh.step(decisions[0], action=1)
    reference = Rollout(PolicySnapshot(unchanged))
    reference.step(decisions[0], action=1)
    assert fresh.distribution(decisions[1])[3] > reference.distribution(decisions[1])[3] + 0.05
    # A child is drawn from one policy: the one its log-probability and update count describe.
    np.testing.assert_allclose(
        running.distribution(decisions[1]), reference.distribution(decisions[1]), rtol=1e-6
    )


class _Table(torch.nn.Module):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(torch.linspace(-1, 1, rows * 3).reshape(rows, 3))


def test_adam_is_torch_adam_when_every_row_is_touched() -> None:
    ours_module, torch_module = _Table(2), _Table(2)
    ours = RowAdam(ours_module, lr=0.1)
    reference = torch.optim.Adam(torch_module.parameters(), lr=0.1)
    grads = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(0))
    for g in grads:  # six steps on the same gradients
        ours_module.table.grad, torch_module.table.grad = g.clone(), g.clone()
        ours.step({"table": torch.arange(2)}), reference.step()
    torch.testing.assert_close(ours_module.table, torch_module.table)
    dense = RowAdam(ours_module, lr=0.1)  # not named in rows: a tensor stepped whole
    ours_module.table.grad, torch_module.table.grad = grads[0].clone(), grads[0].clone()
    dense.step({})
    fresh = torch.optim.Adam([torch.nn.Parameter(torch_module.table.detach().clone())], lr=0.1)
    fresh.param_groups[0]["params"][0].grad = grads[0].clone()
    before = fresh.param_groups[0]["params"][0].detach().clone()
    fresh.step()
    torch.testing.assert_close(
        ours_module.table - torch_module.table.detach(),
        fresh.param_groups[0]["params"][0].detach() - before,
    )


def test_adam_moves_only_the_touched_rows_each_as_a_fresh_adam() -> None:
    module = _Table(3)
    adam = RowAdam(module, lr=0.1)
    start = module.table.detach().clone()
    grads = torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(1))
    # Row 2 is touched from the third step on only; rows 0 and 1 every step.
    fresh = torch.nn.Parameter(start[2:].clone())
    fresh_adam = torch.optim.Adam([fresh], lr=0.1)
    for k, g in enumerate(grads):
        module.table.grad = g.clone()
        rows = torch.arange(3) if k >= 2 else torch.arange(2)
        adam.step({"table": rows})
        if k < 2:  # a gradient on an untouched row moves nothing: rows are chosen by index
            assert torch.equal(module.table[2], start[2])
        else:
            fresh.grad = g[2:].clone()
            fresh_adam.step()
    torch.testing.assert_close(module.table[2:], fresh)


def test_update_moves_a_bandit_toward_the_rewarded_arm() -> None:
    controller = Controller(ControllerConfig.paper(), seed=0)  # unbounded logits
    # Plain REINFORCE (Eq. 2): the default priority queue would hold all 5 arms and imitate them.
    trainer = Reinforce(controller, UpdateConfig.paper().replace(learning_rate=0.05))
    rng = np.random.RandomState(0)
    arm = [Decision("arm", 5)]
    rewards = [0.1, 0.2, 0.9, 0.3, 0.0]
    for _ in range(40):
        batch = [controller.sample(arm, rng)[0] for _ in range(8)]
        trainer.update([(arm, a) for a in batch], [rewards[a[0]] for a in batch])
    probs = controller.probabilities(arm, [2])[0]
    assert int(np.argmax(probs)) == 2 and probs[2] > 0.8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"baseline_decay": 1.5}, r"baseline_decay must be in \[0, 1\), but got 1.5"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0, but got 0.0"),
        ({"trials_per_update": 0}, "trials_per_update must be >= 1, but got 0"),
        ({"ppo_epochs": 3}, "ppo_epochs > 1 needs clip_ratio"),
        ({"clip_ratio": 1.5}, r"clip_ratio must be None or in \(0, 1\), but got 1.5"),
    ],
)
def test_invalid_update_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UpdateConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": 0}, "hidden_size must be >= 1, but got 0"),
        ({"temperature": -1.0}, "temperature must be a finite number > 0, but got -1.0"),
        ({"tanh_constant": 0.0}, "tanh_constant must be None or > 0, but got 0.0"),
    ],
)
def test_invalid_controller_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControllerConfig(**kwargs)


def test_the_numpy_rollout_draws_what_torch_sample_draws() -> None:
    controller = Controller(ControllerConfig(), seed=5)
    decisions = _layered(3)
    for seed in range(5):
        actions, log_prob, entropy = controller.sample(decisions, np.random.RandomState(seed))
        rollout = Rollout(PolicySnapshot(controller))
        rng = np.random.RandomState(seed)
        assert [rollout.step(d, rng=rng) for d in decisions] == actions
        assert rollout.log_prob == pytest.approx(log_prob, abs=1e-5)
        assert rollout.entropy == pytest.approx(entropy, abs=1e-5)


def test_a_fed_step_carries_no_gradient_into_its_head() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    decisions = [Decision("fed", 3), Decision("drawn", 4), Decision("after", 2)]
    child = (decisions, [2, 1, 0], [False, True, False])
    log_prob, entropy = controller.score([child])
    (log_prob + entropy).sum().backward()
    _, _, fed_w, fed_b = controller.head("fed")
    rows = slice(controller.offsets[0], controller.offsets[0] + 3)
    assert torch.count_nonzero(controller.head_weight.grad[rows]) == 0
    assert torch.count_nonzero(controller.head_bias.grad[rows]) == 0
    drawn = slice(controller.offsets[1], controller.offsets[1] + 4)
    assert torch.count_nonzero(controller.head_weight.grad[drawn]) > 0
    # The fed action's embedding is the drawn step's input: it gets a gradient; the last step
    # (fed, after the last drawn one) feeds nothing.
    touched = touched_rows(controller, controller.batch([child]))
    assert touched["head_weight"].tolist() == list(range(drawn.start, drawn.stop))
    assert touched["action_embedding"].tolist() == [controller.offsets[0] + 2]
    assert touched["decision_embedding"].tolist() == [0, 1]
    # Only the drawn step counts in the log-probability.
    probs = controller.probabilities(decisions, [2, 1, 0])
    assert float(log_prob) == pytest.approx(math.log(probs[1][1]), abs=1e-6)


def test_a_head_registered_early_but_used_late_steps_like_a_fresh_one() -> None:
    # The dashboard (decision_probabilities) or a trial that failed registers heads that no
    # batch uses. They must not move, and must not change how the policy moves later.
    used = [Decision("a", 3), Decision("b", 4)]
    late = used + [Decision("late", 3)]
    rng = np.random.RandomState(0)
    batches = [[(used, [rng.randint(3), rng.randint(4)]) for _ in range(2)] for _ in range(6)]
    final = [(late, [1, 2, 0]), (late, [0, 3, 2])]
    runs = []
    for register_early in (True, False):
        controller = Controller(ControllerConfig(), seed=0)
        trainer = Reinforce(controller, UpdateConfig(trials_per_update=2, learning_rate=0.1))
        if register_early:
            controller.register(late[2])
        for k, batch in enumerate(batches):
            trainer.update(batch, [float(k % 2), 1.0])
        if register_early:  # untouched by six updates
            reference = Controller(ControllerConfig(), seed=0)
            reference.register(late[2])
            for mine, initial in zip(controller.head("late"), reference.head("late")):
                assert torch.equal(mine, initial)
        trainer.update(final, [1.0, 0.0])
        runs.append(controller)
    early, fresh = runs
    for name in ("late", "a", "b"):
        for mine, theirs in zip(early.head(name), fresh.head(name)):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-7)


def test_a_batch_with_no_drawn_step_moves_nothing() -> None:
    # Children fed whole (picked by the reward model, enqueued, startup) teach nothing without a
    # priority queue: after a real update, such a batch must leave every weight where it was
    # (Adam's momentum alone would move the LSTM) and take no Adam step.
    controller = Controller(ControllerConfig(), seed=0)
    trainer = Reinforce(controller, UpdateConfig(trials_per_update=2, priority_queue_size=0))
    decisions = [Decision("a", 3), Decision("b", 4)]
    trainer.update([(decisions, [0, 1]), (decisions, [2, 3])], [1.0, 0.0])
    before = copy.deepcopy(controller.state_dict())
    steps = {name: copy.deepcopy(state.steps) for name, state in trainer.optimizer.state.items()}
    fed = [(decisions, [1, 1], [False, False]), (decisions, [0, 2], [False, False])]
    trainer.update(fed, [0.0, 1.0])
    for name, value in controller.state_dict().items():
        assert torch.equal(value, before[name]), name
    for name, state in trainer.optimizer.state.items():
        assert torch.equal(torch.as_tensor(state.steps), torch.as_tensor(steps[name])), name
    assert trainer.n_updates == 2  # the batch still counts: baseline and history move on


def test_ppo_and_the_priority_queue_work_with_fed_steps() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    config = UpdateConfig(trials_per_update=2, clip_ratio=0.2, ppo_epochs=3, priority_queue_size=2)
    trainer = Reinforce(controller, config)
    decisions = [Decision("fed", 3), Decision("x", 4)]
    children = [(decisions, [0, 1], [False, True]), (decisions, [2, 3], [False, True])]
    old = [float(lp) for lp in controller.score(children)[0]]  # the drawn step's log-prob
    stats = trainer.update(children, [1.0, 0.0], old)
    assert math.isfinite(stats["loss"]) and trainer.n_updates == 1
    assert len(trainer._queue) == 2  # the queue keeps both children, imitated whole


def test_tables_grow_by_doubling() -> None:
    controller = Controller(ControllerConfig(), seed=0)
    storages = set()
    for i in range(1000):
        controller.register(Decision(f"d{i}", 4))
        storages.add(controller.head_weight.data_ptr())
    # Registering a decision used to copy every table: 1,000 copies for 1,000 decisions.
    assert len(storages) <= 12 and controller.n_rows == 4000
    assert controller.head_weight.shape[0] < 2 * 4000


def test_the_update_runs_on_one_thread_and_leaves_other_threads_alone() -> None:
    from optuna_rlnas._openmp import _runtimes
    from optuna_rlnas._openmp import one_thread_here

    if _runtimes()[0] is None:
        pytest.skip("torch's OpenMP runtime is not a library in torch's folder in this build")
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = {}
    try:
        with one_thread_here():
            seen["here"] = torch.get_num_threads()
            # A thread whose first torch call falls inside the block keeps the process's count.
            fresh = threading.Thread(target=lambda: seen.update(fresh=torch.get_num_threads()))
            fresh.start(), fresh.join()
        seen["after"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    assert seen == {"here": 1, "fresh": 2, "after": 2}
