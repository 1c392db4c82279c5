"""One step of the controller, and one child as the controller scores it.

No torch and no Optuna: the encoding (parameters to decisions), the record, the controller and its
numpy fast path all speak in these terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Decision:
    """One step of the controller.

    Args:
        key: Identity of the decision (the sampler uses the parameter name); one head per key.
        n_actions: Number of actions (choices) of the decision.
        skip_source: For a skip connection (Sec. 3.3), the index in the *same sequence* of the
            step whose hidden state is the source anchor ``h_j``; ``n_actions`` must be 2 and
            action 1 means "connected". ``None`` for an ordinary softmax decision.

    Example:
        >>> Decision("layer_1/skip_0", 2, skip_source=0).n_actions
        2
    """

    key: str
    n_actions: int
    skip_source: int | None = None

    def __post_init__(self) -> None:
        if self.n_actions < 1:
            raise ValueError(f"n_actions of {self.key!r} must be >= 1, but got {self.n_actions}.")
        if self.skip_source is not None and self.n_actions != 2:
            raise ValueError(
                f"a skip decision has 2 actions (not connected, connected), but {self.key!r} "
                f"has {self.n_actions}."
            )


class Child(NamedTuple):
    """A child as the controller scores it: one action per decision, and which were drawn.

    ``drawn[t]`` is ``False`` for a step whose value the controller did not draw (an enqueued or
    fixed parameter, a startup trial, a retried trial): it is fed to the LSTM as an input, so
    later steps are conditioned on it, but it carries no policy-gradient or entropy term
    (Eq. 2 sums log P(a_t | a_{1:t-1}) over the actions the policy chose).
    """

    decisions: tuple[Decision, ...]
    actions: tuple[int, ...]
    drawn: tuple[bool, ...]

    @classmethod
    def of(
        cls,
        decisions: Sequence[Decision],
        actions: Sequence[int],
        drawn: Sequence[bool] | None = None,
    ) -> Child:
        """A child from sequences; ``drawn=None`` means every step was drawn."""
        drawn = (True,) * len(decisions) if drawn is None else tuple(bool(d) for d in drawn)
        if not len(decisions) == len(actions) == len(drawn):
            raise ValueError(
                f"a child needs one action and one drawn flag per decision, but got "
                f"{len(decisions)} decisions, {len(actions)} actions and {len(drawn)} flags."
            )
        return cls(tuple(decisions), tuple(int(a) for a in actions), drawn)
