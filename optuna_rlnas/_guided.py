"""The seam between the sampler and the reward model (``_model/``): the model-guided controller.

The learner tells the model of every reward it consumes (:meth:`Guided.observe`), in the order
the controller learns from them, so the model is rebuilt from storage by the same replay that
rebuilds the controller. Before a trial the sampler asks for a plan (:meth:`Guided.plan`): the
controller draws many candidates, the model picks one, and the running trial feeds its actions
at each ``suggest_*`` as steps the controller did not draw (``_running.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from optuna_rlnas._decision import Child
from optuna_rlnas._encoding import Encoder
from optuna_rlnas._model import ModelConfig
from optuna_rlnas._model import ModelGuide
from optuna_rlnas._policy import PolicySnapshot


class Guided:
    """The reward model of one sampler, fed with the decisions of the sampler's encoding.

    Args:
        config: The model's settings.
        seed: The sampler's seed.
        encoder: The sampler's encoding, which says which decisions have ordered actions.
    """

    def __init__(self, config: ModelConfig, seed: int, encoder: Encoder) -> None:
        self.config = config
        self.guide = ModelGuide(config, seed)
        self._encoder = encoder

    def observe(self, number: int, child: Child, reward: float) -> None:
        """A consumed reward: trial ``number``'s child and its reward."""
        known = self.guide.encoder.index
        for decision in child.decisions:
            if decision.key not in known:
                ordered = self._encoder.ordered(decision.key)
                self.guide.register(decision.key, decision.n_actions, ordered)
        self.guide.observe(child.decisions, child.actions, reward, number)

    def plan(
        self,
        policy: PolicySnapshot,
        rng: np.random.RandomState,
        pending: Sequence[Mapping[str, int]] = (),
    ) -> tuple[dict[str, int], dict[str, Any]] | None:
        """The actions the model picks for the next trial (by decision key) and its prediction
        for the record; ``None``: the controller draws the trial alone. ``pending``: the
        children of trials running now, which it does not pick."""
        plan = self.guide.plan(policy, rng, pending)
        if plan is None:
            return None
        prediction = {
            "mean": None if math.isnan(plan.mean) else plan.mean,
            "sd": None if math.isnan(plan.sd) else plan.sd,
            "candidates": plan.n_candidates,
            "reevaluates": plan.reevaluates,
        }
        return plan.actions, prediction

    def recommend(self) -> int | None:
        """The number of the trial the model recommends (see ``ModelGuide.recommend``)."""
        return self.guide.recommend()
