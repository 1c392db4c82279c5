"""What a user configures: the controller's shape (:class:`ControllerConfig`) and its update
rule (:class:`UpdateConfig`). Plain frozen dataclasses, validated when built; the defaults are
tuned for sample efficiency, ``.paper()`` gives Zoph & Le's setting (why in docs/decisions.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import replace


@dataclass(frozen=True)
class ControllerConfig:
    """Shape of the controller and of its logits.

    Args:
        hidden_size: LSTM units per layer (the paper: 35, Sec. 4.1).
        num_layers: LSTM layers (the paper: 2, Sec. 4.1).
        init_range: Weights start uniform in ``[-init_range, init_range]`` (the paper: 0.08).
        temperature: Logits are divided by it before sampling (ENAS, Pham et al. 2018: 5.0).
        tanh_constant: If set, logits become ``c * tanh(logits / temperature)``, which bounds them
            and keeps exploration alive (ENAS: 2.5). ``None`` leaves them unbounded (the paper).
            Default 1.5 (not the paper's; why in docs/decisions.md).

    The LSTM's shape is the paper's (Sec. 4.1); :meth:`paper` also drops the tanh constant.

    Example:
        >>> ControllerConfig(tanh_constant=2.5).hidden_size
        35
    """

    hidden_size: int = 35
    num_layers: int = 2
    init_range: float = 0.08
    temperature: float = 1.0
    tanh_constant: float | None = 1.5

    @classmethod
    def paper(cls) -> ControllerConfig:
        """Zoph & Le's controller: 2-layer LSTM, 35 units, init +-0.08, plain softmax logits."""
        return cls(
            hidden_size=35, num_layers=2, init_range=0.08, temperature=1.0, tanh_constant=None
        )

    def __post_init__(self) -> None:
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, but got {self.hidden_size}.")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, but got {self.num_layers}.")
        if not self.init_range > 0:
            raise ValueError(f"init_range must be > 0, but got {self.init_range}.")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(
                f"temperature must be a finite number > 0, but got {self.temperature}."
            )
        if self.tanh_constant is not None and not self.tanh_constant > 0:
            raise ValueError(f"tanh_constant must be None or > 0, but got {self.tanh_constant}.")



@dataclass(frozen=True)
class UpdateConfig:
    """How the controller learns from rewards.

    Args:
        learning_rate: Adam's step size (the paper: 6e-4, Sec. 4.1; default 2e-2).
        trials_per_update: Children per update, m in Eq. (2) (the paper: 8 per controller
            replica, Sec. 3.4; default 4).
        baseline_decay: Weight of the old baseline in b <- decay * b + (1 - decay) * R.
        entropy_weight: Weight of the entropy bonus (0 in the paper; ENAS: 1e-4).
        normalize_advantage: Scale R - b by a moving estimate of the rewards' std (default on).
        ppo_epochs: Gradient steps per batch; more than 1 needs ``clip_ratio``.
        clip_ratio: PPO's epsilon; ``None`` is plain REINFORCE.
        priority_queue_size: Best children kept for priority-queue training; 0 turns it off
            (default 5).
        priority_queue_weight: Weight of their log-likelihood in the loss (default 1).

    The defaults are not the paper's (why in docs/decisions.md); :meth:`paper` is Zoph & Le's
    setting.

    Example:
        >>> UpdateConfig.paper().learning_rate
        0.0006
    """

    learning_rate: float = 2e-2
    trials_per_update: int = 4
    baseline_decay: float = 0.95
    entropy_weight: float = 0.0
    normalize_advantage: bool = True
    ppo_epochs: int = 1
    clip_ratio: float | None = None
    priority_queue_size: int = 5
    priority_queue_weight: float = 1.0

    def __post_init__(self) -> None:
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be > 0, but got {self.learning_rate}.")
        if self.trials_per_update < 1:
            raise ValueError(f"trials_per_update must be >= 1, but got {self.trials_per_update}.")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), but got {self.baseline_decay}.")
        if not self.entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, but got {self.entropy_weight}.")
        if self.ppo_epochs < 1:
            raise ValueError(f"ppo_epochs must be >= 1, but got {self.ppo_epochs}.")
        if self.clip_ratio is not None and not 0 < self.clip_ratio < 1:
            raise ValueError(f"clip_ratio must be None or in (0, 1), but got {self.clip_ratio}.")
        if self.ppo_epochs > 1 and self.clip_ratio is None:
            raise ValueError(
                f"ppo_epochs > 1 needs clip_ratio (several steps on one batch without clipping "
                f"diverge), but got ppo_epochs={self.ppo_epochs} and clip_ratio=None."
            )
        if self.priority_queue_size < 0:
            raise ValueError(
                f"priority_queue_size must be >= 0, but got {self.priority_queue_size}."
            )
        if not self.priority_queue_weight >= 0:
            raise ValueError(
                f"priority_queue_weight must be >= 0, but got {self.priority_queue_weight}."
            )

    @classmethod
    def paper(cls) -> UpdateConfig:
        """Zoph & Le's setting: REINFORCE, Adam lr 6e-4, m = 8, EMA baseline, nothing else."""
        return cls(
            learning_rate=6e-4,
            trials_per_update=8,
            baseline_decay=0.95,
            entropy_weight=0.0,
            normalize_advantage=False,
            ppo_epochs=1,
            clip_ratio=None,
            priority_queue_size=0,
            priority_queue_weight=0.0,
        )

    def replace(self, **changes: object) -> UpdateConfig:
        return replace(self, **changes)  # type: ignore[arg-type]
