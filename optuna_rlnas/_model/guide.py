"""The model-guided controller's screen: what the sampler calls before each trial.

:class:`ModelGuide` owns the finished children it has been shown (their features, rewards and
trial numbers), the paths of the space, the Gaussian process and its refit schedule. It never
sees a study: the sampler feeds it (:meth:`observe`) in the order it consumes trials and asks it
for a :class:`Plan` (:meth:`plan`). Everything it holds is a function of the children it was
shown and the seed, so a process that replays the study's storage rebuilds it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optuna_rlnas._decision import Decision
from optuna_rlnas._model import gp
from optuna_rlnas._model.acquisition import log_augmented_expected_improvement
from optuna_rlnas._model.acquisition import log_expected_improvement
from optuna_rlnas._model.acquisition import normal_scores
from optuna_rlnas._model.candidates import draw
from optuna_rlnas._model.config import ModelConfig
from optuna_rlnas._model.encoding import Encoder
from optuna_rlnas._model.paths import Paths
from optuna_rlnas._model.pool import Pool
from optuna_rlnas._model.pool import Screen
from optuna_rlnas._policy import PolicySnapshot

_DETERMINISTIC_AFTER = 3  # equal repeats (and none unequal) that show the objective has no noise
_VARIANCE_BLOCK = 16  # candidates whose variance is computed at once (see _best_candidate)
_TOP_CHILDREN = 16  # evaluated children (best posterior mean first) that may be re-evaluated
_SCREEN_ENTRIES = 4  # candidates the screening cache keeps, per candidate drawn in a trial


@dataclass(frozen=True)
class Plan:
    """The child the model picked for the next trial.

    ``actions`` maps decision keys to actions; ``reevaluates`` is the number of a trial whose
    child this repeats (``None`` for a new child); ``mean`` and ``sd`` are the model's
    prediction for it in normal-score units; ``n_candidates`` the distinct new candidates
    screened.
    """

    actions: dict[str, int]
    reevaluates: int | None
    mean: float
    sd: float
    n_candidates: int


class ModelGuide:
    """A Gaussian process over the finished children that screens the controller's candidates.

    Args:
        config: The model's settings.
        seed: Seeds the subset of trials that fits the hyperparameters beyond
            ``config.max_fit_trials``.
    """

    def __init__(self, config: ModelConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)
        self.encoder = Encoder()
        self.paths = Paths()
        self._features = np.zeros((0, 0))  # (capacity, n_features): one row per observation
        self.rewards: list[float] = []
        self.numbers: list[int] = []
        self._child_of: list[int] = []  # per observation, its child's index
        self._children: dict[bytes, int] = {}  # feature bytes -> child index
        self._child_rows: list[list[int]] = []  # per child, its observations
        self._firsts: list[int] = []  # per child, its first observation
        self._child_actions: list[dict[str, int]] = []
        self._equal_repeats = 0
        self._unequal_repeats = 0
        self._hyper: gp.Hyperparameters | None = None
        self._fit_size = 0
        self._fit_blocks = 0
        self._posterior: gp.Posterior | None = None
        # Caches, not pickled: the shared draw (share_candidates) and the screening so far.
        self._pool: Pool | None = None
        self._screen = Screen(_SCREEN_ENTRIES * config.n_candidates)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_pool": None, "_screen": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._pool = None
        self._screen = Screen(_SCREEN_ENTRIES * self.config.n_candidates)

    # ------------------------------------------------------------------ data
    def register(self, key: str, n_actions: int, ordered: bool) -> None:
        """Declare a decision (its key, number of actions and whether they are ordered)."""
        self.encoder.register(
            key, n_actions, ordered and self.config.ordered_kernel, self.config.squared_ordinal
        )

    def observe(
        self, decisions: Sequence[Decision], actions: Sequence[int], reward: float, number: int
    ) -> None:
        """A finished trial: its decisions and actions (registered), reward and number."""
        child = {d.key: int(a) for d, a in zip(decisions, actions)}
        self.paths.add(decisions, actions)
        row = self.encoder.encode([child])[0]
        self._append(row)
        self.rewards.append(float(reward))
        self.numbers.append(int(number))
        key = row.tobytes()
        index = self._children.get(key)
        if index is None:
            index = self._children[key] = len(self._child_rows)
            self._child_rows.append([])
            self._firsts.append(len(self.rewards) - 1)
            self._child_actions.append(child)
        elif self.rewards[self._child_rows[index][0]] == reward:
            self._equal_repeats += 1
        else:
            self._unequal_repeats += 1
        self._child_rows[index].append(len(self.rewards) - 1)
        self._child_of.append(index)

    def _append(self, row: np.ndarray) -> None:
        n = self.n_observations
        features = self.features()  # padded to the decisions known now, as ``row`` is
        if n == len(self._features):
            grown = np.empty((max(2 * n, 64), len(row)))
            grown[:n] = features
            self._features = grown
        self._features[n] = row

    @property
    def n_observations(self) -> int:
        return len(self.rewards)

    @property
    def deterministic(self) -> bool | None:
        """Whether repeats showed the objective noise-free (True), noisy (False), or neither."""
        if self._unequal_repeats:
            return False
        return True if self._equal_repeats >= _DETERMINISTIC_AFTER else None

    @property
    def noise_fraction(self) -> float | None:
        """The fitted noise share of an observation's variance (``None`` before a fit)."""
        return None if self._hyper is None else self._hyper.noise_fraction

    def _noisy(self) -> bool:
        if self.deterministic is True or self._hyper is None:
            return False
        return self._hyper.noise_fraction > self.config.noise_threshold

    # ------------------------------------------------------------------ model
    def features(self) -> np.ndarray:
        """Rows of every observation, padded to the decisions known now."""
        n, width = self.n_observations, self.encoder.n_features
        if self._features.shape[1] != width:
            # New decisions: every stored row reads as missing there, which keeps equal rows
            # equal and distinct rows distinct, so the children keep their indices.
            self._features = self.encoder.pad(self._features[:n])
            firsts = self._features[self._firsts]
            self._children = {row.tobytes(): c for c, row in enumerate(firsts)}
        return self._features[:n]

    def fit_size(self, n: int) -> int:
        """The number of trials the hyperparameters are fitted on when ``n`` have finished:
        the last point of the schedule s_0 = 2, s_k+1 = max(s_k + 1, floor(s_k (1 + g))) at or
        below n, with g = ``refit_growth`` while s_k <= ``max_fit_trials`` and
        ``capped_refit_growth`` after. A function of n alone, so that a process that rebuilds
        the model from storage fits on the same trials as the one that ran them."""
        cfg = self.config
        return _fit_size(n, cfg.refit_growth, cfg.max_fit_trials, cfg.capped_refit_growth)

    def posterior(self) -> tuple[gp.Posterior, np.ndarray, np.ndarray]:
        """The posterior over every observation, the transformed rewards y and alpha."""
        features = self.features()
        groups, scales = self.encoder.groups(), self.encoder.scales()
        n_blocks = len(self.encoder.blocks)
        size = self.fit_size(self.n_observations)
        if self._hyper is None or (size, n_blocks) != (self._fit_size, self._fit_blocks):
            self._hyper = self._fit(features, groups, scales, n_blocks, size)
            self._fit_size, self._fit_blocks = size, n_blocks
            self._posterior = None
        assert self._hyper is not None
        weights = self._hyper.weights(groups, scales, n_blocks)
        if self._posterior is None:
            self._posterior = gp.Posterior(
                weights, math.exp(self._hyper.log_signal), math.exp(self._hyper.log_noise)
            )
        self._posterior.grow(
            weights, self.encoder.missing_row()[self._posterior.features.shape[1] :]
        )
        new = features[self._posterior.n :]
        self._posterior.extend(new, self._screen.solved(self._posterior, new))
        y = normal_scores(np.asarray(self.rewards))
        return self._posterior, y, self._posterior.solve(y)

    def _fit(
        self,
        features: np.ndarray,
        groups: np.ndarray,
        scales: np.ndarray,
        n_blocks: int,
        size: int,
    ) -> gp.Hyperparameters:
        # The first ``size`` trials in number order: a function of the trials, not of the
        # order this process consumed them in.
        order = np.argsort(self.numbers, kind="stable")[:size]
        cap = self.config.max_fit_trials
        if len(order) > cap:
            rng = np.random.RandomState((self.seed + size) % 2**32)
            order = np.sort(rng.choice(order, size=cap, replace=False))
        y = normal_scores(np.asarray(self.rewards)[order])
        return gp.fit(features[order], y, groups, scales, n_blocks, self.config.prior)

    # ------------------------------------------------------------------ screening
    def plan(
        self,
        policy: PolicySnapshot,
        rng: np.random.RandomState,
        pending: Sequence[Mapping[str, int]] = (),
    ) -> Plan | None:
        """The child for the next trial, its candidates drawn from ``policy``, or ``None`` to
        let the controller draw alone. ``pending``: children of running trials (by decision
        key), which are not picked again while they train."""
        cfg = self.config
        if self.n_observations < cfg.n_startup_trials:
            return None
        if cfg.policy_fraction > 0 and rng.random_sample() < cfg.policy_fraction:
            return None
        self.features()  # pads stored rows and refreshes the children's keys
        pool = self._pool_for(policy, rng)
        candidates = pool.candidates
        known = self._children if cfg.drop_repeats else {}
        training = self._pending_keys(pending) if cfg.drop_repeats else set()
        keep = np.array(
            [i for i, key in enumerate(pool.keys) if key not in training and key not in known],
            dtype=np.int64,
        )
        if len(keep) and cfg.acquisition == "none":
            return Plan(candidates.child(int(keep[0])), None, math.nan, math.nan, len(keep))
        if not len(keep) and not cfg.reevaluate:
            return None  # every candidate was evaluated already: the controller draws alone
        posterior, y, alpha = self.posterior()
        train_mean = posterior.train_mean(y, alpha)
        noisy = self._noisy()
        if noisy:
            # Huang et al. (2006): the incumbent is the child with the best mean - sd, not
            # the best (noisy) observation.
            top, top_mean, top_var = self._top_children(posterior, alpha, train_mean)
            best = float(np.max(top_mean - np.sqrt(top_var)))
        else:
            best = float(train_mean.max())
        noise = posterior.noise if noisy else 0.0
        plan, best_score = None, -math.inf
        if len(keep):
            i, mean, sd, best_score = self._best_candidate(
                posterior, pool, keep, alpha, best, noise
            )
            plan = Plan(candidates.child(int(keep[i])), None, mean, sd, len(keep))
        if cfg.reevaluate and noisy:
            # Evaluated children compete on the same acquisition: under noise a promising
            # child's f is still uncertain, and one more evaluation may be worth more than a
            # new child (a child is evaluated at most max_evaluations times).
            score = self._score(top_mean, top_var, best, noise)
            counts = np.array([len(self._child_rows[c]) for c in top])
            score[counts >= cfg.max_evaluations] = -math.inf
            score[np.isin(top, [self._children[k] for k in training if k in self._children])] = (
                -math.inf  # evaluated again right now by another trial
            )
            j = int(np.argmax(score))
            if score[j] > best_score:
                child = int(top[j])
                plan = Plan(
                    dict(self._child_actions[child]),
                    self.numbers[self._child_rows[child][0]],
                    float(top_mean[j]),
                    float(np.sqrt(top_var[j])),
                    len(keep),
                )
        return plan

    def _pool_for(self, policy: PolicySnapshot, rng: np.random.RandomState) -> Pool:
        """The candidates to screen: a new draw, or with ``share_candidates`` the current pool
        while the policy, the paths and the decisions are those it was drawn with."""
        cfg = self.config
        stamp = (policy.version, self.paths.changes, self.encoder.n_features)
        shared = cfg.share_candidates and cfg.drop_repeats  # else a pick could come back
        if shared and self._pool is not None and self._pool.serves(policy, stamp):
            return self._pool
        candidates = draw(policy, self.paths, cfg.n_candidates, rng)
        # A trained policy draws the same child many times: only the first draw of each
        # sequence of (decision, action) steps is encoded and screened.
        assert candidates.sequence is not None
        _, firsts = np.unique(candidates.sequence, return_index=True)
        candidates = candidates.take(np.sort(firsts))
        keys = [d.key for d in candidates.decisions]
        rows = self.encoder.encode_steps(keys, candidates.ids, candidates.actions)
        # Different steps can still encode alike (rarely): the first of each row is kept.
        first: dict[bytes, int] = {}
        for i, row in enumerate(rows):
            first.setdefault(row.tobytes(), i)
        distinct = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        pool = Pool(policy, stamp, candidates.take(distinct), rows[distinct], list(first))
        self._pool = pool if shared else None
        return pool

    def _pending_keys(self, pending: Sequence[Mapping[str, int]]) -> set[bytes]:
        """The feature keys of running trials' children; keys of decisions this model has not
        registered (or actions out of its range: another space's worker) are left out, as a
        candidate cannot make them either."""
        index, blocks = self.encoder.index, self.encoder.blocks
        children = [
            {k: a for k, a in child.items() if k in index and 0 <= a < blocks[index[k]].n_actions}
            for child in pending
        ]
        if not children:
            return set()
        return {row.tobytes() for row in self.encoder.encode(children)}

    def _best_candidate(
        self,
        posterior: gp.Posterior,
        pool: Pool,
        keep: np.ndarray,
        alpha: np.ndarray,
        best: float,
        noise: float,
    ) -> tuple[int, float, float, float]:
        """(index into ``keep``, mean, sd, score) of the pool's candidate, among ``keep``, with
        the best acquisition.

        The variance is the costly part: a triangular solve per candidate, O(n^2), the first
        time it is screened under this posterior (``Screen``), O(n) per child added since
        after. So it is computed in blocks, best bound first, only while a candidate can still
        win. Both acquisitions (EI and the augmented EI) grow with the mean and with the
        variance, and conditioning on more children never adds variance, so the variance is at
        most the one given the candidate's nearest child alone, and at most the one it had
        when it was last screened, over fewer children: a candidate whose score at the lesser
        of the two is below the best score so far is never the argmax. The pick is the one a
        full computation would make (ties to the first candidate).
        """
        screen = self._screen
        slots, kt = screen.cross(posterior, [pool.keys[i] for i in keep], pool.rows[keep])
        k_star = kt.T  # (n, candidates)
        mean = posterior.mean(k_star, alpha)
        if self.config.acquisition == "mean":
            i = int(np.argmax(mean))
            sd = float(np.sqrt(screen.variance(posterior, slots[[i]])[0]))
            return i, float(mean[i]), sd, float(mean[i])
        bound_var = np.minimum(
            posterior.variance_bound(k_star), screen.variance_bound(posterior, slots)
        )
        bound = self._score(mean, bound_var, best, noise)
        order = np.argsort(-bound, kind="stable")
        winner, winner_score, winner_var = -1, -math.inf, math.nan
        for start in range(0, len(order), _VARIANCE_BLOCK):
            if bound[order[start]] < winner_score:
                break  # sorted by bound: no later candidate can beat the winner either
            block = order[start : start + _VARIANCE_BLOCK]
            var = screen.variance(posterior, slots[block])
            score = self._score(mean[block], var, best, noise)
            top = np.flatnonzero(score == score.max())
            j = top[np.argmin(block[top])]  # ties: the first candidate
            if score[j] > winner_score or (score[j] == winner_score and block[j] < winner):
                winner, winner_score, winner_var = int(block[j]), float(score[j]), float(var[j])
        return winner, float(mean[winner]), math.sqrt(winner_var), winner_score

    def _top_children(
        self, posterior: gp.Posterior, alpha: np.ndarray, train_mean: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The evaluated children with the best posterior means (at most _TOP_CHILDREN), with
        their posterior means and variances.

        Screened like candidates (``Screen``): the best children change little from one trial
        to the next, so their solves are brought up to date rather than redone (a child's
        row is a row like any other; its slot's solve is also the one ``extend`` takes when
        the child is evaluated again)."""
        firsts = np.asarray(self._firsts)
        pool = np.argsort(-train_mean[firsts], kind="stable")[:_TOP_CHILDREN]
        rows = self.features()[firsts[pool]]
        slots, kt = self._screen.cross(posterior, [row.tobytes() for row in rows], rows)
        return pool, posterior.mean(kt.T, alpha), self._screen.variance(posterior, slots)

    def _score(self, mean: np.ndarray, var: np.ndarray, best: float, noise: float) -> np.ndarray:
        if self.config.acquisition == "mean":
            return mean
        if noise > 0:
            return log_augmented_expected_improvement(mean, var, best, noise)
        return log_expected_improvement(mean, var, best)

    # ------------------------------------------------------------------ recommendation
    def recommend(self) -> int | None:
        """The trial number of the child the model recommends: the best posterior mean when the
        noise is large, else the best observation (``None`` before any observation)."""
        if not self.rewards:
            return None
        rewards = np.asarray(self.rewards)
        if self.n_observations >= 2 and self._hyper is None:
            self.posterior()
        if not self._noisy():
            return self.numbers[int(np.argmax(rewards))]
        posterior, y, alpha = self.posterior()
        train_mean = posterior.train_mean(y, alpha)
        child = self._child_of[int(np.argmax(train_mean))]
        rows = self._child_rows[child]
        return self.numbers[rows[int(np.argmax(rewards[rows]))]]


@functools.lru_cache(maxsize=4096)
def _fit_size(n: int, growth: float, cap: int, capped_growth: float) -> int:
    size = 2
    while True:
        g = growth if size <= cap else capped_growth
        nxt = max(size + 1, math.floor(size * (1.0 + g)))
        if nxt > n:
            return size
        size = nxt
