"""The reward model on arrays: encoding, GP posterior and likelihood, EI, paths, candidates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from optuna_rlnas import Controller
from optuna_rlnas import ControllerConfig
from optuna_rlnas import Decision
from optuna_rlnas._model import ModelConfig
from optuna_rlnas._model import ModelGuide
from optuna_rlnas._model import gp
from optuna_rlnas._model.acquisition import log_expected_improvement
from optuna_rlnas._model.acquisition import normal_scores
from optuna_rlnas._model.candidates import Candidates
from optuna_rlnas._model.candidates import draw
from optuna_rlnas._model.encoding import Encoder
from optuna_rlnas._model.paths import END
from optuna_rlnas._model.paths import Paths
from optuna_rlnas._model.pool import Pool
from optuna_rlnas._model.pool import Screen
from optuna_rlnas._policy import PolicySnapshot
from optuna_rlnas._policy import Rollout


def _space(n_decisions: int = 4, n_actions: int = 4) -> Encoder:
    encoder = Encoder()
    for i in range(n_decisions):
        encoder.register(f"d{i}", n_actions, ordered=i % 2 == 1)
    return encoder


def _children(encoder: Encoder, n: int, seed: int = 0) -> list[dict[str, int]]:
    rng = np.random.RandomState(seed)
    return [{b.key: int(rng.randint(b.n_actions)) for b in encoder.blocks} for _ in range(n)]


def _dense_kernel(a: np.ndarray, b: np.ndarray, weights: np.ndarray, signal: float) -> np.ndarray:
    d = (((a[:, None, :] - b[None, :, :]) ** 2) * weights).sum(-1)
    return signal * np.exp(-d)


# ------------------------------------------------------------------ encoding


def test_encoding_distances_overlap_ordered_and_missing() -> None:
    encoder = Encoder()
    encoder.register("op", 5, ordered=False)
    encoder.register("width", 5, ordered=True)
    rows = encoder.encode([{"op": 0, "width": 0}, {"op": 3, "width": 1}, {"op": 0, "width": 4}])
    rows = np.vstack([rows, encoder.encode([{}])])  # a child with neither decision
    scales, groups = encoder.scales(), encoder.groups()

    def distance(i: int, j: int, block: int) -> float:
        cols = groups == block
        return float((((rows[i] - rows[j]) ** 2) * scales)[cols].sum())

    assert distance(0, 1, 0) == pytest.approx(1.0)  # unordered: different is 1
    assert distance(0, 2, 0) == 0.0
    assert distance(0, 1, 1) == pytest.approx(0.25)  # ordered: |0 - 1| / 4
    assert distance(0, 2, 1) == pytest.approx(1.0)  # the two ends
    for block in (0, 1):
        assert distance(0, 3, block) == pytest.approx(1.0)  # missing vs any action
        assert distance(2, 3, block) == pytest.approx(1.0)


def test_squared_ordinal_encoding_distances() -> None:
    encoder = Encoder()
    encoder.register("width", 5, ordered=True, squared=True)
    encoder.register("pair", 2, ordered=True, squared=True)  # two actions: two categories
    children = [{"width": a, "pair": 1} for a in range(5)] + [{}]
    rows, scales = encoder.encode(children), encoder.scales()
    width = encoder.groups() == 0

    def distance(i: int, j: int) -> float:
        return float((((rows[i] - rows[j]) ** 2) * scales)[width].sum())

    for a in range(5):
        for b in range(5):
            assert distance(a, b) == pytest.approx(((a - b) / 4) ** 2)
        assert 0.75 <= distance(a, 5) <= 1.0  # missing: near 1 from every action
    assert not encoder.blocks[1].squared and encoder.blocks[1].width == 3  # one-hot + missing
    keys = ["width", "pair"]
    ids = np.array([[0, 1], [0, -1]])
    actions = np.array([[3, 1], [2, -1]])
    np.testing.assert_array_equal(
        encoder.encode_steps(keys, ids, actions),
        encoder.encode([{"width": 3, "pair": 1}, {"width": 2}]),
    )


def test_encode_steps_agrees_with_encode() -> None:
    encoder = _space()
    children = _children(encoder, 20)
    keys = [b.key for b in encoder.blocks]
    ids = np.tile(np.arange(len(keys)), (len(children), 1))
    ids[::3, -1] = -1  # some children stop before the last decision
    actions = np.array([[c[k] for k in keys] for c in children])
    expected = encoder.encode(
        [{k: c[k] for k, i in zip(keys, row) if i >= 0} for c, row in zip(children, ids)]
    )
    np.testing.assert_array_equal(encoder.encode_steps(keys, ids, actions), expected)


def test_padding_new_decisions_keeps_distances() -> None:
    encoder = _space(2)
    rows = encoder.encode(_children(encoder, 5))
    encoder.register("late", 3, ordered=False)
    padded = encoder.pad(rows)
    weights = encoder.scales()
    np.testing.assert_allclose(
        _dense_kernel(padded, padded, weights, 1.0),
        _dense_kernel(rows, rows, weights[: rows.shape[1]], 1.0),
    )


# ------------------------------------------------------------------ the GP


def _data(n: int = 30, noise: float = 0.1) -> tuple[Encoder, np.ndarray, np.ndarray]:
    encoder = _space()
    children = _children(encoder, n)
    rng = np.random.RandomState(1)
    y = np.array([c["d0"] == 2 + 0.5 * c["d1"] for c in children], float)
    return encoder, encoder.encode(children), y + noise * rng.randn(n)


def test_posterior_matches_a_dense_gp_when_grown_by_blocks() -> None:
    encoder, features, y = _data()
    weights = np.linspace(0.2, 1.5, encoder.n_features)
    post = gp.Posterior(weights, signal=1.3, noise=0.05)
    for chunk in np.array_split(np.arange(len(y)), [1, 2, 10, 11, 25]):
        post.extend(features[chunk])  # one child, several, one again: the factor grows
    alpha = post.solve(y)
    query = encoder.encode(_children(encoder, 7, seed=5))
    mean, var = post.predict(query, alpha)

    k = _dense_kernel(features, features, weights, 1.3) + post.noise * np.eye(len(y))
    k_star = _dense_kernel(query, features, weights, 1.3)
    np.testing.assert_allclose(mean, k_star @ np.linalg.solve(k, y), atol=1e-9)
    dense_var = 1.3 - np.einsum("ij,ji->i", k_star, np.linalg.solve(k, k_star.T))
    np.testing.assert_allclose(var, dense_var, atol=1e-9)
    np.testing.assert_allclose(post.train_mean(y, alpha), (k - post.noise * np.eye(len(y))) @ alpha)


def test_neg_log_posterior_matches_the_dense_formula_and_its_gradient() -> None:
    encoder, features, y = _data()
    n_blocks = len(encoder.blocks)
    prior = gp.Prior()
    params = torch.tensor([-1.0, -0.3, 0.2, -2.0, 0.1, -3.0], dtype=torch.float64)
    distances = gp._block_distances(
        torch.tensor(features), torch.tensor(encoder.groups()), torch.tensor(encoder.scales()),
        n_blocks,
    )
    loss, grad = gp.neg_log_posterior(params, distances, torch.tensor(y), prior)

    p = params.numpy()
    weights = np.exp(p[:n_blocks])[encoder.groups()] * encoder.scales()
    signal, noise = math.exp(p[-2]), math.exp(p[-1])
    k = _dense_kernel(features, features, weights, signal)
    k += (noise + gp._JITTER * signal) * np.eye(len(y))
    _, logdet = np.linalg.slogdet(k)
    nll = 0.5 * y @ np.linalg.solve(k, y) + 0.5 * logdet + 0.5 * len(y) * math.log(2 * math.pi)
    medians = np.r_[np.full(n_blocks, math.log(prior.theta_total / n_blocks)), 0.0,
                    math.log(prior.noise)]
    sds = np.r_[np.full(n_blocks, prior.log_theta_sd), prior.log_signal_sd, prior.log_noise_sd]
    expected = (nll + 0.5 * (((p - medians) / sds) ** 2).sum()) / len(y)
    assert float(loss) == pytest.approx(expected, rel=1e-10)

    eps = 1e-6  # central differences of the loss against the analytic gradient
    for i in range(len(p)):
        step = torch.zeros_like(params)
        step[i] = eps
        up = gp.neg_log_posterior(params + step, distances, torch.tensor(y), prior)[0]
        down = gp.neg_log_posterior(params - step, distances, torch.tensor(y), prior)[0]
        assert float(grad[i]) == pytest.approx(float(up - down) / (2 * eps), abs=1e-7)


def test_fit_is_deterministic_and_finds_the_relevant_decision() -> None:
    encoder, features, y = _data(80, noise=0.05)
    args = (features, y, encoder.groups(), encoder.scales(), len(encoder.blocks))
    first, second = gp.fit(*args), gp.fit(*args)
    np.testing.assert_array_equal(first.log_theta, second.log_theta)
    assert first.log_noise == second.log_noise
    # y depends on d0 and d1 only: their weights dominate those of d2 and d3.
    assert min(first.log_theta[:2]) > max(first.log_theta[2:])
    assert first.noise_fraction < 0.2


def test_fit_improves_on_the_prior_median() -> None:
    encoder, features, y = _data(60)
    n_blocks = len(encoder.blocks)
    distances = gp._block_distances(
        torch.tensor(features), torch.tensor(encoder.groups()), torch.tensor(encoder.scales()),
        n_blocks,
    )
    prior = gp.Prior()

    def loss(h: gp.Hyperparameters) -> float:
        params = torch.tensor(np.r_[h.log_theta, h.log_signal, h.log_noise])
        return float(gp.neg_log_posterior(params, distances, torch.tensor(y), prior)[0])

    fitted = gp.fit(features, y, encoder.groups(), encoder.scales(), n_blocks, prior)
    assert loss(fitted) < loss(prior.initial(n_blocks)) - 0.1


# ------------------------------------------------------------------ acquisition


def test_log_expected_improvement_matches_the_closed_form() -> None:
    mean = np.array([0.0, 1.0, -1.0, 2.5, 0.3])
    var = np.array([1.0, 0.25, 4.0, 0.01, 2.0])
    best = 0.5
    expected = []
    for m, v in zip(mean, var):
        s = math.sqrt(v)
        z = (m - best) / s
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        expected.append(math.log(s * (z * cdf + pdf)))
    np.testing.assert_allclose(log_expected_improvement(mean, var, best), expected, rtol=1e-10)


def test_log_expected_improvement_ranks_candidates_far_below_the_incumbent() -> None:
    # Plain EI underflows to 0 for all of these; its log still orders them by mean.
    mean = np.array([-60.0, -40.0, -50.0])
    out = log_expected_improvement(mean, np.ones(3), 0.0)
    assert np.all(np.isfinite(out))
    assert list(np.argsort(-out)) == [1, 2, 0]
    # Continuous across the switch of formula at z = -25.
    near = log_expected_improvement(np.array([-25.0 + 1e-9, -25.0 - 1e-9]), np.ones(2), 0.0)
    assert near[0] == pytest.approx(near[1], abs=1e-6)


def test_normal_scores_are_ranks_with_ties_shared() -> None:
    scores = normal_scores(np.array([3.0, 1.0, 2.0, 2.0, 100.0]))
    assert scores[1] < scores[2] == scores[3] < scores[0] < scores[4]
    assert normal_scores(np.arange(7.0)).sum() == pytest.approx(0.0, abs=1e-12)  # symmetric
    np.testing.assert_allclose(normal_scores(np.array([1.0, 10.0, 1e6])), normal_scores(
        np.array([-5.0, 0.0, 0.1])
    ))


def _pool(rows: np.ndarray) -> Pool:
    """A pool of bare rows (the screening maths needs no drawn steps)."""
    empty = np.zeros((len(rows), 0), dtype=np.int64)
    return Pool(None, None, Candidates([], empty, empty, np.ones(len(rows), bool)), rows)


def _distinct(rows: np.ndarray, n: int) -> tuple[np.ndarray, list[bytes]]:
    """The first ``n`` distinct rows and their keys (a pool's candidates are distinct)."""
    first = {row.tobytes(): i for i, row in reversed(list(enumerate(rows)))}
    picked = sorted(first.values())[:n]
    assert len(picked) == n
    return rows[picked], [rows[i].tobytes() for i in picked]


def _screening(n: int, seed: int, count: int, max_entries: int) -> tuple[Any, ...]:
    """Children (their first 20 in a posterior) and ``count`` distinct candidates, an empty
    screening: (features, weights, posterior, candidate rows, their keys, screening)."""
    encoder, features, _ = _data(n=n)
    weights = np.linspace(0.2, 1.5, encoder.n_features)
    post = gp.Posterior(weights, signal=1.3, noise=0.05)
    post.extend(features[:20])
    rows, keys = _distinct(encoder.encode(_children(encoder, 60, seed=seed)), count)
    return features, weights, post, rows, keys, Screen(max_entries=max_entries)


def test_screening_cache_grows_with_the_posterior_like_a_fresh_solve() -> None:
    features, weights, post, rows, keys, screen = _screening(60, seed=5, count=40, max_entries=1000)
    some = np.arange(0, 40, 2)  # screened at 20 children, then again as children are added
    slots, _ = screen.cross(post, [keys[i] for i in some], rows[some])
    screen.variance(post, slots[::3])  # solved at 20 children, then grown row by row
    # one child, several, one again, then enough to merge the factor's parts
    for chunk in np.array_split(np.arange(20, 60), [21, 24, 25, 40]):
        post.extend(features[chunk])
        slots, k = screen.cross(post, keys, rows)
        assert len(screen) == 40 and sorted(slots) == list(range(40))  # a slot per candidate
        np.testing.assert_allclose(k.numpy(), post.cross(rows).numpy().T, atol=1e-12)
        np.testing.assert_allclose(
            screen.variance(post, slots), post.variance(post.cross(rows)), atol=1e-9
        )
    # New hyperparameters: another posterior, and the screening starts over.
    other = gp.Posterior(weights * 2, signal=0.7, noise=0.1)
    other.extend(features)
    slots, _ = screen.cross(other, keys[:10], rows[:10])
    assert len(screen) == 10
    np.testing.assert_allclose(
        screen.variance(other, slots), other.variance(other.cross(rows[:10])), atol=1e-9
    )


def test_screening_bounds_the_variance_by_its_last_solve_and_hands_solves_to_the_factor() -> None:
    features, weights, post, rows, keys, screen = _screening(40, seed=9, count=12, max_entries=100)
    slots, _ = screen.cross(post, keys, rows)
    assert np.all(np.isinf(screen.variance_bound(post, slots)))  # never solved: no bound
    screen.variance(post, slots[:6])
    # The child a trial picked comes back as an observation: its column of L^-1 k is known.
    solved = screen.solved(post, rows[:1])
    assert solved is not None and screen.solved(post, rows[6:7]) is None  # never solved
    grown = gp.Posterior(weights, signal=1.3, noise=0.05)
    grown.extend(features[:20])
    grown.extend(rows[:1])  # by a solve of its own
    post.extend(rows[:1], solved)
    np.testing.assert_allclose(post.factor.numpy(), grown.factor.numpy(), atol=1e-12)
    for chunk in (features[20:21], features[21:30]):
        post.extend(chunk)
        slots, _ = screen.cross(post, keys, rows)
        bound = screen.variance_bound(post, slots[:6])  # solved over fewer children
        exact = post.variance(post.cross(rows[:6]))
        assert np.all(bound >= exact) and np.all(bound - exact < 1.3)
        np.testing.assert_allclose(screen.variance(post, slots[:6]), exact, atol=1e-9)
    assert screen.solved(post, rows[:1]) is not None  # up to date again


def test_screening_cache_drops_the_least_recently_screened_when_full() -> None:
    features, _, post, rows, keys, screen = _screening(30, seed=7, count=24, max_entries=16)
    screen.cross(post, keys[:8], rows[:8])  # oldest
    screen.cross(post, keys[8:16], rows[8:16])
    post.extend(features[20:])
    slots, k = screen.cross(post, keys[12:24], rows[12:24])  # 8 new: over the room
    assert len(screen) <= 16
    assert set(screen._keys) >= set(keys[12:24])  # what this call screens is kept
    assert not set(screen._keys) & set(keys[:8])  # the least recently screened went first
    np.testing.assert_allclose(k.numpy(), post.cross(rows[12:24]).numpy().T, atol=1e-12)
    np.testing.assert_allclose(
        screen.variance(post, slots), post.variance(post.cross(rows[12:24])), atol=1e-9
    )
    # Slots solved once, then others added unsolved, then a drop: every table follows.
    screen = Screen(max_entries=8)
    slots, _ = screen.cross(post, keys[:4], rows[:4])
    screen.variance(post, slots)
    screen.cross(post, keys[4:8], rows[4:8])  # never solved
    slots, _ = screen.cross(post, keys[8:12], rows[8:12])  # over the room: a drop
    np.testing.assert_allclose(
        screen.variance(post, slots), post.variance(post.cross(rows[8:12])), atol=1e-9
    )
    with pytest.raises(ValueError, match="max_entries must be >= 1, but got 0"):
        Screen(max_entries=0)


# ------------------------------------------------------------------ paths and candidates


def test_paths_of_a_static_space_are_one_sequence() -> None:
    paths = Paths()
    decisions = ["a", "b", "c"]
    for actions in ([0, 1, 2], [1, 1, 0]):
        paths.add(decisions, actions)
    node = 0
    for d in decisions:
        assert paths.next(node, [5, 5, 5]) == d  # whatever the actions
        node = paths.child(node, d)
    assert paths.next(node, [0, 0, 0]) == END


def test_paths_count_changes_that_can_change_a_candidate_s_next_decision() -> None:
    paths = Paths()
    paths.add(["a", "b"], [0, 1])
    static = paths.changes
    paths.add(["a", "b"], [1, 0])  # a static space: nothing new to learn
    assert paths.changes == static
    paths.add(["a", "c"], [2, 0])  # a branch appears after "a"
    branched = paths.changes
    assert branched > static
    paths.add(["a", "b"], [0, 0])  # through the branch: its rule may move
    assert paths.changes > branched


def test_paths_learn_which_earlier_action_decides_a_branch() -> None:
    paths = Paths()
    for n_layers, first in [(1, 0), (2, 1), (3, 0), (2, 0), (1, 1)]:
        decisions = ["n"] + [f"layer_{i}" for i in range(n_layers)]
        paths.add(decisions, [n_layers, first, *[0] * (n_layers - 1)])
    after_layer_0 = paths.child(paths.child(0, "n"), "layer_0")
    assert paths.next(after_layer_0, [1, 1]) == END
    assert paths.next(after_layer_0, [2, 0]) == "layer_1"  # decided by "n", not by layer_0
    assert paths.next(after_layer_0, [4, 0]) is None  # never seen: unknown


def _layered(n_layers: int) -> list[Decision]:
    decisions = []
    for i in range(n_layers):
        decisions += [Decision(f"layer_{i}/filters", 4), Decision(f"layer_{i}/kernel", 3)]
        if i:
            decisions.append(Decision(f"layer_{i}/skip_0", 2, skip_source=1))
    return decisions


@pytest.mark.parametrize("config", [ControllerConfig(), ControllerConfig.paper()])
def test_batched_candidates_draw_what_the_rollout_draws(config: ControllerConfig) -> None:
    controller = Controller(config, seed=2)
    decisions = _layered(3)
    paths = Paths()
    paths.add(decisions, [0] * len(decisions))
    for seed in range(50):  # one candidate, one generator: the same uniforms, the same actions
        batch = draw(PolicySnapshot(controller), paths, 1, np.random.RandomState(seed))
        actions, _, _ = controller.sample(decisions, np.random.RandomState(seed))
        assert batch.actions[0].tolist() == actions
        assert batch.complete[0]


@pytest.mark.parametrize("config", [ControllerConfig(), ControllerConfig.paper()])
def test_a_snapshot_s_second_draw_reads_its_tree_and_draws_alike(config: ControllerConfig) -> None:
    controller = Controller(config, seed=4)
    decisions = _layered(3)  # with skip decisions: attention reads an earlier step's output
    paths = Paths()
    paths.add(decisions, [0] * len(decisions))
    snapshot = PolicySnapshot(controller)
    first = draw(snapshot, paths, 64, np.random.RandomState(1))
    tree = snapshot.memo["tree"]
    steps = tree._steps
    again = draw(snapshot, paths, 64, np.random.RandomState(1))  # the same uniforms
    assert tree._steps == steps  # every prefix's LSTM step and softmax read, none computed
    fresh = draw(PolicySnapshot(controller), paths, 64, np.random.RandomState(1))
    for batch in (again, fresh):
        np.testing.assert_array_equal(batch.actions, first.actions)
        np.testing.assert_array_equal(batch.sequence, first.sequence)
    # Equal sequences, equal numbers; distinct ones, distinct numbers.
    rows = [tuple(r) for r in first.actions.tolist()]
    assert len(set(rows)) == len(set(first.sequence.tolist()))
    other = draw(snapshot, paths, 64, np.random.RandomState(2))  # new prefixes: computed
    assert tree._steps > steps
    by_row = dict(zip(map(tuple, first.actions.tolist()), first.sequence.tolist()))
    for row, number in zip(map(tuple, other.actions.tolist()), other.sequence.tolist()):
        assert by_row.get(row, number) == number


def test_a_snapshot_s_tree_is_a_cache_bounded_and_not_pickled(monkeypatch) -> None:
    import pickle

    from optuna_rlnas._model import candidates as candidates_module

    controller = Controller(seed=5)
    decisions = _layered(2)
    paths = Paths()
    paths.add(decisions, [0] * len(decisions))
    snapshot = PolicySnapshot(controller)
    first = draw(snapshot, paths, 32, np.random.RandomState(0))
    tree = snapshot.memo["tree"]
    assert pickle.loads(pickle.dumps(snapshot)).memo == {}  # recomputed on demand
    monkeypatch.setattr(candidates_module, "_MAX_TREE_STEPS", tree.n_steps - 1)
    again = draw(snapshot, paths, 32, np.random.RandomState(0))
    assert snapshot.memo["tree"] is not tree  # over the bound: a new tree, the same children
    np.testing.assert_array_equal(again.actions, first.actions)


@pytest.mark.parametrize("config", [ControllerConfig(), ControllerConfig.paper()])
def test_batched_candidates_have_the_policy_s_probabilities(config: ControllerConfig) -> None:
    # Candidates that share a prefix share its LSTM state: each child must still come out with
    # the probability the controller gives it, step by step (a state read from the wrong
    # prefix shows as a frequency off by many standard errors).
    controller = Controller(config, seed=3)
    with torch.no_grad():
        for p in controller.parameters():
            p.mul_(25.0)  # a peaked policy: few prefixes, shared by many candidates
    decisions = _layered(2)
    paths = Paths()
    paths.add(decisions, [0] * len(decisions))
    n = 20_000
    batch = draw(PolicySnapshot(controller), paths, n, np.random.RandomState(0))
    children, counts = np.unique(batch.actions, axis=0, return_counts=True)
    assert len(children) >= 5  # several children, so that prefixes are shared and distinct
    total = 0.0
    for child, count in zip(children.tolist(), counts.tolist()):
        rollout, probability = Rollout(PolicySnapshot(controller)), 1.0
        for decision, action in zip(decisions, child):
            probability *= float(rollout.distribution(decision)[action])
            rollout.step(decision, action=action)
        total += probability
        se = math.sqrt(probability * (1 - probability) / n) + 1e-9
        assert abs(count / n - probability) < 5 * se, (child, count / n, probability)
    assert total > 0.99  # the children drawn carry nearly all the policy's mass


def test_candidates_follow_conditional_paths_and_stop_where_unknown() -> None:
    controller = Controller(seed=0)
    n = Decision("n", 3)
    paths = Paths()
    paths.add([n, Decision("a", 2)], [0, 1])  # n = 0: "a" follows
    paths.add([n, Decision("b", 2)], [1, 0])  # n = 1: "b" follows
    batch = draw(PolicySnapshot(controller), paths, 300, np.random.RandomState(0))
    first = batch.actions[:, 0]
    assert set(first.tolist()) == {0, 1, 2}
    for i in range(len(batch)):
        child = batch.child(i)
        if first[i] == 2:  # never seen: the candidate stops after "n"
            assert child == {"n": 2} and not batch.complete[i]
        else:
            assert set(child) == {"n", "a" if first[i] == 0 else "b"} and batch.complete[i]


# ------------------------------------------------------------------ the guide


def _guide(config: ModelConfig | None = None) -> tuple[ModelGuide, list[Decision]]:
    guide = ModelGuide(config or ModelConfig(n_startup_trials=3), seed=0)
    decisions = [Decision("x", 2), Decision("y", 3)]
    guide.register("x", 2, ordered=False)
    guide.register("y", 3, ordered=True)
    return guide, decisions


def test_guide_never_plans_an_evaluated_child() -> None:
    guide, decisions = _guide()
    children = [(x, y) for x in range(2) for y in range(3)]
    for number, actions in enumerate(children[:-1]):  # all but one of the 6 children
        guide.observe(decisions, actions, reward=float(sum(actions)), number=number)
    controller, rng = Controller(seed=0), np.random.RandomState(0)
    for _ in range(5):
        plan = guide.plan(PolicySnapshot(controller), rng)
        assert plan is not None and plan.reevaluates is None
        assert (plan.actions["x"], plan.actions["y"]) == children[-1]


@pytest.mark.parametrize("share", [True, False])
def test_guide_draws_once_per_policy_version_when_it_shares_candidates(share: bool) -> None:
    encoder = _space(5, 4)
    guide = ModelGuide(ModelConfig(n_startup_trials=3, share_candidates=share), seed=0)
    for block in encoder.blocks:
        guide.register(block.key, block.n_actions, block.ordered)
    decisions = [Decision(b.key, b.n_actions) for b in encoder.blocks]
    for number, child in enumerate(_children(encoder, 10, seed=1)):
        guide.observe(decisions, [child[d.key] for d in decisions], float(sum(child.values())),
                      number)
    controller, rng = Controller(seed=0), np.random.RandomState(0)
    policy = PolicySnapshot(controller)
    picks, draws = [], []
    for number in range(10, 14):
        before = rng.get_state()[2]
        plan = guide.plan(policy, rng)
        assert plan is not None and plan.reevaluates is None
        draws.append(rng.get_state()[2] != before)  # the draw consumed uniforms
        picks.append(tuple(plan.actions[d.key] for d in decisions))
        guide.observe(decisions, picks[-1], float(sum(picks[-1])), number)
    assert draws == [True] + [not share] * 3
    assert len(set(picks)) == len(picks)  # a pick is evaluated, then never offered again
    before = rng.get_state()[2]
    guide.plan(PolicySnapshot(controller), rng)  # another snapshot: its own candidates
    assert rng.get_state()[2] != before


def test_guide_learns_from_repeats_whether_the_objective_is_noisy() -> None:
    guide, decisions = _guide()
    for number in range(4):
        guide.observe(decisions, (1, 2), reward=5.0, number=number)
    assert guide.deterministic is True  # three equal repeats, none unequal
    guide.observe(decisions, (1, 2), reward=5.5, number=4)
    assert guide.deterministic is False  # one unequal repeat settles it


def test_guide_reevaluates_the_best_children_only_under_noise() -> None:
    rng = np.random.RandomState(0)
    config = ModelConfig(n_startup_trials=3, n_candidates=64)
    plans = {}
    for noise in (0.0, 3.0):
        guide, decisions = _guide(config)
        for number in range(30):
            actions = (int(rng.randint(2)), int(rng.randint(3)))
            reward = actions[0] + actions[1] + noise * rng.randn()
            guide.observe(decisions, actions, reward=round(reward, 6), number=number)
        plans[noise] = [guide.plan(PolicySnapshot(Controller(seed=0)), rng) for _ in range(5)]
        if noise:
            assert guide.noise_fraction > config.noise_threshold
    # Noise-free: all 6 children were evaluated and repeats showed no noise, so no plan.
    assert all(p is None for p in plans[0.0])
    assert any(p is not None and p.reevaluates is not None for p in plans[3.0])


def test_guide_fit_does_not_depend_on_the_order_trials_were_consumed() -> None:
    rng = np.random.RandomState(3)
    observations = [((int(rng.randint(2)), int(rng.randint(3))), float(rng.randn()), n)
                    for n in range(20)]
    fitted = []
    for order in (observations, observations[::-1]):
        guide, decisions = _guide()
        for actions, reward, number in order:
            guide.observe(decisions, actions, reward, number)
        guide.posterior()
        fitted.append(guide._hyper)
    np.testing.assert_allclose(fitted[0].log_theta, fitted[1].log_theta, rtol=1e-10)
    assert fitted[0].log_noise == pytest.approx(fitted[1].log_noise, rel=1e-10)


def test_guide_refits_on_a_geometric_schedule_and_caps_the_fit(monkeypatch) -> None:
    sizes = []
    real_fit = gp.fit

    def counting_fit(features, *args, **kwargs):
        sizes.append(len(features))
        return real_fit(features, *args, **kwargs)

    monkeypatch.setattr(gp, "fit", counting_fit)
    config = ModelConfig(n_startup_trials=3, refit_growth=0.5, max_fit_trials=40)
    guide, decisions = _guide(config)
    rng = np.random.RandomState(0)
    factorised = []
    for number in range(200):
        actions = (int(rng.randint(2)), int(rng.randint(3)))
        guide.observe(decisions, actions, float(rng.randn()), number)
        if number >= 2:
            posterior = guide.posterior()[0]
            factorised.append(posterior.n)
    # Refits at 3, 4, 6, 9, 13, 19, 28, 42, 63, 94, 141: logarithmically many, each on at most
    # 40 trials; between refits the factor only grows (one row per trial).
    assert len(sizes) <= 12
    assert max(sizes) == 40
    assert factorised[-1] == 200


def test_refits_space_out_once_the_fit_is_capped() -> None:
    config = ModelConfig(refit_growth=0.1, max_fit_trials=300)
    schedule = sorted({ModelGuide(config, 0).fit_size(n) for n in range(2, 1500)})
    # Up to the cap (and its first point past it) every 10%; past the cap every 50%.
    assert [s for s in schedule if 200 <= s <= 1100] == [215, 236, 259, 284, 312, 468, 702, 1053]
    same = config.replace(capped_refit_growth=0.1)
    assert ModelGuide(same, 0).fit_size(1000) == 972  # the old schedule: 884, 972, ...
    with pytest.raises(ValueError, match="capped_refit_growth must be >= 0, but got -1"):
        ModelConfig(capped_refit_growth=-1)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_pruned_candidate_search_picks_what_a_full_search_picks(noise: float) -> None:
    encoder = _space(6, 4)
    guide = ModelGuide(ModelConfig(n_startup_trials=3), seed=0)
    for block in encoder.blocks:
        guide.register(block.key, block.n_actions, block.ordered)
    decisions = [Decision(b.key, b.n_actions) for b in encoder.blocks]
    rng = np.random.RandomState(0)
    for number, child in enumerate(_children(encoder, 120, seed=1)):
        actions = [child[d.key] for d in decisions]
        guide.observe(decisions, actions, float(sum(actions) + rng.randn()), number)
    posterior, y, alpha = guide.posterior()
    best = float(posterior.train_mean(y, alpha).max())
    for seed in range(5):
        rows = guide.encoder.encode(_children(encoder, 300, seed=10 + seed))
        mean, var = posterior.predict(rows, alpha)
        full = guide._score(mean, var, best, noise)
        i, m, sd, score = guide._best_candidate(
            posterior, _pool(rows), np.arange(len(rows)), alpha, best, noise
        )
        assert i == int(np.argmax(full))
        assert score == pytest.approx(full.max()) and m == pytest.approx(mean[i])
        assert sd == pytest.approx(math.sqrt(var[i]))
