"""How a trial records the child it trained: the format's one owner, imported by the objective
that writes it and by every reader (``rlnas best``, the final phase, the dashboard).

optuna-dashboard draws each user attribute on one line that never wraps, and a trial's page grows
to its longest line (docs/dashboard.md). So what a person reads is one short user attribute per
layer, ``layer_0``, ``layer_1``, ... (``36@3x5/s1x2 relu<img``: filters@height x width /
strides, activation < input layers), and the whole architecture, for programs, is the system
attribute ``rlnas:architecture`` (``Architecture.to_dict()``), which the dashboard does not list.
Studies of earlier versions recorded the JSON as the user attribute ``architecture_json``;
:func:`trial_architecture` still reads them.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import BaseTrial
from optuna.trial import FrozenTrial

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas.child._architecture import Architecture

ARCHITECTURE_KEY = "rlnas:architecture"  # trial system attribute: Architecture.to_dict()
LEGACY_ARCHITECTURE_ATTR = "architecture_json"  # user attribute of earlier versions: to_json()


def layer_attrs(architecture: Architecture) -> dict[str, str]:
    """The per-layer user attributes: ``{"layer_0": "36@3x5/s1x2 relu<img", ...}``."""
    return {f"layer_{i}": str(layer) for i, layer in enumerate(architecture.layers)}


def record_architecture(trial: BaseTrial, architecture: Architecture) -> None:
    """Record ``architecture`` on ``trial``: a short user attribute per layer, ``depth``, and the
    whole as the system attribute :data:`ARCHITECTURE_KEY`.

    Example:
        >>> import optuna
        >>> from optuna_rlnas.child import Architecture, LayerSpec
        >>> study = optuna.create_study()
        >>> trial = study.ask()
        >>> arch = Architecture((LayerSpec(24, 3, 3), LayerSpec(48, 5, 5, 2, 1, inputs=(0,))))
        >>> record_architecture(trial, arch)
        >>> study.tell(trial, 0.5)
        <FrozenTrial ...>
        >>> study.trials[0].user_attrs
        {'layer_0': '24@3x3/s1x1 relu<img', 'layer_1': '48@5x5/s2x1 relu<0', 'depth': 2}
        >>> trial_architecture(study.trials[0]) == arch
        True
    """
    for key, text in layer_attrs(architecture).items():
        trial.set_user_attr(key, text)
    trial.set_user_attr("depth", architecture.depth)  # the depth built, whoever chose it
    _private.set_running_trial_system_attr(trial, ARCHITECTURE_KEY, architecture.to_dict())


def has_architecture(trial: FrozenTrial) -> bool:
    """Whether ``trial`` records an architecture (checked without reading it)."""
    return ARCHITECTURE_KEY in trial.system_attrs or LEGACY_ARCHITECTURE_ATTR in trial.user_attrs


def trial_architecture(trial: FrozenTrial) -> Architecture | None:
    """The child ``trial`` trained; ``None`` when it records none, or something that is not an
    architecture. Reads :data:`ARCHITECTURE_KEY`, else an earlier version's ``architecture_json``
    user attribute."""
    data: Any = trial.system_attrs.get(ARCHITECTURE_KEY)
    legacy = trial.user_attrs.get(LEGACY_ARCHITECTURE_ATTR)
    try:
        if isinstance(data, dict):
            return Architecture.from_dict(data)
        if isinstance(legacy, str):
            return Architecture.from_json(legacy)
    except (ValueError, TypeError, KeyError):
        return None
    return None
