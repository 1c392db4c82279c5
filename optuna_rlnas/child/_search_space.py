"""The paper's CNN search space, suggested through an Optuna trial (Zoph & Le, Sec. 3.1, 3.3, 4.1).

Decisions are named with :func:`optuna_rlnas.layer_param` and :func:`optuna_rlnas.skip_param`
so that the RL sampler recognises each layer and routes skip connections through its attention
(anchor points). Per layer ``i`` the order follows the paper's Fig. 4: first the anchor point (one
yes/no decision per earlier layer ``j``), then filter height, filter width, stride height, stride
width, number of filters, and the activation. A decision with a single choice is fixed and not
suggested.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TypeVar

import optuna

from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import skip_param
from optuna_rlnas.child._architecture import ACTIVATIONS
from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._architecture import LayerSpec
from optuna_rlnas.child._checks import check_choices
from optuna_rlnas.child._checks import check_int

NUM_LAYERS_PARAM = "num_layers"

# The types of a layer's choices: sizes and counts, and activation names.
_Choice = TypeVar("_Choice", int, str)


@dataclass(frozen=True)
class DepthCurriculum:
    """The paper's depth curriculum (Sec. 4.1): the depth of the children grows by ``step``
    layers every ``every`` trials, starting at ``start``, and stops at the search space's
    ``num_layers`` (the final depth).

    The paper starts at 6 layers and adds 2 every 1,600 sampled architectures (12,800 in all).
    :meth:`scaled` spreads the same growth over a smaller budget of trials.

    Example:
        >>> from optuna_rlnas.child import DepthCurriculum
        >>> curriculum = DepthCurriculum(start=6, step=2, every=1600)
        >>> curriculum.depth(0), curriculum.depth(1600), curriculum.depth(3300)
        (6, 8, 10)
        >>> DepthCurriculum.scaled(n_trials=30, start=6, final=10)
        DepthCurriculum(start=6, step=2, every=10)
    """

    start: int = 6
    step: int = 2
    every: int = 1600

    def __post_init__(self) -> None:
        check_int("start", self.start)
        check_int("step", self.step, low=0)
        check_int("every", self.every)

    @classmethod
    def scaled(cls, *, n_trials: int, start: int, final: int, step: int = 2) -> DepthCurriculum:
        """Grow from ``start`` to ``final`` layers in equal stages over ``n_trials`` trials."""
        check_int("n_trials", n_trials)
        check_int("start", start)
        check_int("final", final)
        check_int("step", step)
        if final < start:
            raise ValueError(f"final must be >= start={start}, but got {final}.")
        stages = -(-(final - start) // step) + 1  # start, start + step, ..., reaching final
        return cls(start=start, step=step, every=max(1, -(-n_trials // stages)))

    def depth(self, trial_number: int) -> int:
        """The depth of trial number ``trial_number``, before the final depth's cap."""
        return self.start + self.step * (trial_number // self.every)


@dataclass(frozen=True)
class CNNSearchSpace:
    """Choice lists of the CNN search space; the defaults are the paper's (Sec. 4.1).

    ``num_layers`` is a fixed depth (an ``int``) or a list of depths the controller chooses from
    (the decision ``num_layers``). With a ``curriculum``, the curriculum sets the depth by trial
    number, up to ``num_layers`` (then one ``int``, the final depth), and no depth decision is
    suggested: the reward always goes to the depth that was built. ``strides=(1,)`` fixes the
    strides at 1, as in the paper's first experiments; ``activations`` holds ``"relu"`` only by
    default.

    Example:
        >>> import optuna
        >>> from optuna_rlnas.child import CNNSearchSpace, suggest_architecture
        >>> space = CNNSearchSpace(num_layers=3, strides=(1, 2))
        >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> arch = suggest_architecture(study.ask(), space)
        >>> arch.depth
        3
    """

    filters: Sequence[int] = (24, 36, 48, 64)
    filter_sizes: Sequence[int] = (1, 3, 5, 7)
    strides: Sequence[int] = (1, 2, 3)
    activations: Sequence[str] = ("relu",)
    num_layers: int | Sequence[int] = 6
    skip_connections: bool = True
    curriculum: DepthCurriculum | None = field(default=None)

    def __post_init__(self) -> None:
        def positive(name: str) -> Callable[[object], int]:
            return lambda value: check_int(name, value, what="hold positive integers")

        def odd(value: int) -> None:
            check_int("filter_sizes", value, odd=True, what="hold odd positive integers")

        def activation(value: str) -> None:
            if value not in ACTIVATIONS:
                raise ValueError(
                    f"activations must be among {tuple(ACTIVATIONS)}, but got {value!r}."
                )

        # Frozen: the checked tuples replace the given sequences through object.__setattr__.
        checked = {
            "filters": check_choices("filters", self.filters, positive("filters")),
            "filter_sizes": check_choices("filter_sizes", self.filter_sizes, odd),
            "strides": check_choices("strides", self.strides, positive("strides")),
            "activations": check_choices("activations", self.activations, activation),
        }
        for name, values in checked.items():
            object.__setattr__(self, name, values)
        if isinstance(self.num_layers, int):  # a bool too, which check_int refuses
            positive("num_layers")(self.num_layers)
        else:
            depths = check_choices("num_layers", self.num_layers, positive("num_layers"))
            object.__setattr__(self, "num_layers", depths)
            if self.curriculum is not None:
                raise ValueError(
                    "a curriculum sets the depth, so num_layers must be one int (the final "
                    f"depth), but got {depths!r}."
                )
        if self.curriculum is not None and not isinstance(self.curriculum, DepthCurriculum):
            raise TypeError(
                f"curriculum must be a DepthCurriculum or None, but got {self.curriculum!r}."
            )

    def depth_for(self, trial: optuna.trial.BaseTrial) -> int:
        """The depth to build: the curriculum's for this trial, the fixed one, or a decision."""
        if isinstance(self.num_layers, int):  # __post_init__ made it an int or a tuple of ints
            if self.curriculum is not None:  # only with one int, the final depth
                return min(self.curriculum.depth(getattr(trial, "number", 0)), self.num_layers)
            return self.num_layers
        return int(trial.suggest_categorical(NUM_LAYERS_PARAM, list(self.num_layers)))


def _pick(trial: optuna.trial.BaseTrial, name: str, choices: Sequence[_Choice]) -> _Choice:
    # A single choice is a fixed value, not a decision: no controller step is spent on it.
    if len(choices) == 1:
        return choices[0]
    return trial.suggest_categorical(name, list(choices))


def suggest_architecture(
    trial: optuna.trial.BaseTrial, space: CNNSearchSpace | None = None
) -> Architecture:
    """Suggest a child CNN through ``trial`` and return it as an :class:`Architecture`.

    Skip connections are the decisions ``layer_{i}/skip_{j}`` (choices ``[False, True]``) for
    every ``j < i``; they come first in layer ``i`` so that the controller's step at them is the
    layer's anchor point (Sec. 3.3). Works with ``optuna.trial.FixedTrial`` too.
    """
    space = CNNSearchSpace() if space is None else space
    depth = space.depth_for(trial)
    layers = []
    for i in range(depth):
        inputs: tuple[int, ...] = ()
        if space.skip_connections and i > 0:
            # Anchor point of layer i: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
            inputs = tuple(
                j for j in range(i) if trial.suggest_categorical(skip_param(i, j), [False, True])
            )
        elif i > 0:
            inputs = (i - 1,)  # without skip decisions the layers form a plain chain
        layers.append(
            LayerSpec(
                filter_height=_pick(trial, layer_param(i, "filter_height"), space.filter_sizes),
                filter_width=_pick(trial, layer_param(i, "filter_width"), space.filter_sizes),
                stride_height=_pick(trial, layer_param(i, "stride_height"), space.strides),
                stride_width=_pick(trial, layer_param(i, "stride_width"), space.strides),
                filters=_pick(trial, layer_param(i, "filters"), space.filters),
                activation=_pick(trial, layer_param(i, "activation"), space.activations),
                inputs=inputs,
            )
        )
    return Architecture(tuple(layers))
