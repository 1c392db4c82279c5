"""The paper's CNN search space, suggested through an Optuna trial (Zoph & Le, Sec. 3.1, 3.3, 4.1).

Decisions are named with :func:`optuna_rlnas.layer_param` and :func:`optuna_rlnas.skip_param`
so that the RL sampler recognises each layer and routes skip connections through its attention
(anchor points). Per layer ``i`` the order follows the paper's Fig. 4: first the anchor point (one
yes/no decision per earlier layer ``j``), then filter height, filter width, stride height, stride
width, number of filters, and the activation. A decision with a single choice is fixed and not
suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

import optuna

from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import skip_param
from optuna_rlnas.child._architecture import ACTIVATIONS
from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._architecture import LayerSpec

NUM_LAYERS_PARAM = "num_layers"


@dataclass(frozen=True)
class DepthCurriculum:
    """The paper's depth curriculum (Sec. 4.1): the maximum depth grows by ``step`` layers
    every ``every`` trials, starting at ``start``.

    The paper starts at 6 layers and adds 2 every 1,600 sampled architectures.

    Example:
        >>> from optuna_rlnas.child import DepthCurriculum
        >>> curriculum = DepthCurriculum(start=6, step=2, every=1600)
        >>> curriculum.max_depth(0), curriculum.max_depth(1600), curriculum.max_depth(3300)
        (6, 8, 10)
    """

    start: int = 6
    step: int = 2
    every: int = 1600

    def __post_init__(self) -> None:
        if self.start < 1:
            raise ValueError(f"start must be >= 1, but got {self.start}.")
        if self.step < 0:
            raise ValueError(f"step must be >= 0, but got {self.step}.")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, but got {self.every}.")

    def max_depth(self, trial_number: int) -> int:
        """Largest depth allowed to trial number ``trial_number``."""
        return self.start + self.step * (trial_number // self.every)


def _choices(name: str, values: Sequence, check) -> tuple:
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one choice, but got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a choice, but got {values!r}.")
    for value in values:
        check(value)
    return values


@dataclass(frozen=True)
class CNNSearchSpace:
    """Choice lists of the CNN search space; the defaults are the paper's (Sec. 4.1).

    ``num_layers`` is a fixed depth (an ``int``) or a list of depths the controller chooses from
    (the decision ``num_layers``). ``curriculum`` caps the depth by trial number; the controller's
    choice (or the fixed depth) is then clipped to the cap and the depth actually built is
    recorded in the architecture. ``strides=(1,)`` fixes the strides at 1, as in the paper's
    first experiments; ``activations`` holds ``"relu"`` only by default.

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
        def positive(name):
            def check(value):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{name} must hold positive integers, but got {value!r}.")

            return check

        def odd(value):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
                raise ValueError(
                    f"filter_sizes must hold odd positive integers, but got {value!r}."
                )

        def activation(value):
            if value not in ACTIVATIONS:
                raise ValueError(f"activations must be among {ACTIVATIONS}, but got {value!r}.")

        object.__setattr__(self, "filters", _choices("filters", self.filters, positive("filters")))
        object.__setattr__(self, "filter_sizes", _choices("filter_sizes", self.filter_sizes, odd))
        object.__setattr__(self, "strides", _choices("strides", self.strides, positive("strides")))
        object.__setattr__(
            self, "activations", _choices("activations", self.activations, activation)
        )
        if isinstance(self.num_layers, int):
            positive("num_layers")(self.num_layers)
        else:
            object.__setattr__(
                self, "num_layers", _choices("num_layers", self.num_layers, positive("num_layers"))
            )

    def depth_for(self, trial: optuna.trial.BaseTrial) -> int:
        """Suggest (or fix) the depth, then clip it to the curriculum's cap."""
        if isinstance(self.num_layers, int):
            depth = self.num_layers
        else:
            depth = trial.suggest_categorical(NUM_LAYERS_PARAM, list(self.num_layers))
        if self.curriculum is not None and isinstance(trial, optuna.trial.Trial):
            depth = min(depth, self.curriculum.max_depth(trial.number))
        return int(depth)


def _pick(trial: optuna.trial.BaseTrial, name: str, choices: tuple):
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
