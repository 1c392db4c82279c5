"""How the reward model guides the controller: one frozen dataclass, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from optuna_rlnas._model.gp import Prior

ACQUISITIONS = ("ei", "mean", "none")


@dataclass(frozen=True)
class ModelConfig:
    """The model-guided controller: the controller proposes, a reward model screens.

    Before each trial the controller draws ``n_candidates`` children; those already evaluated
    and duplicates are dropped; a Gaussian process fitted on the finished trials picks the one
    with the best acquisition; the trial then returns its actions at each ``suggest_*``. The
    controller keeps learning from the real rewards (see ``docs/model-experiments.md``).

    Args:
        n_candidates: Children the controller draws per trial.
        n_startup_trials: Finished trials before the model screens; until then the controller
            draws alone.
        policy_fraction: Share of trials the controller draws alone after the startup, whose
            actions carry a policy-gradient term (a child picked by the model does not: it is
            not a draw from the policy).
        acquisition: ``"ei"``: expected improvement over the best posterior mean; ``"mean"``:
            the best posterior mean (greedy); ``"none"``: the first candidate (no screening).
        share_candidates: Draw the candidates once per policy version and screen the same
            pool at each trial until the controller's next update, rather than a fresh draw per
            trial: the policy is the same in between. What was picked is not offered again.
            Off by default: faster (at 1,000 trials about 0.7x TPE's time per trial, with
            ``n_candidates=512``, against ~1.0x) but worse regret on most summaries of the
            benchmark, the noisy tables above all (``docs/model-experiments.md``).
        drop_repeats: Drop candidates equal to an evaluated child.
        reevaluate: When the model finds the noise large (``noise_threshold``) and repeats have
            not shown the objective to be deterministic, evaluated children compete with new
            ones on the same acquisition, so a promising child is evaluated again. Under noise
            the acquisition is the augmented expected improvement (Huang et al. 2006).
        max_evaluations: A child is evaluated at most this many times by re-evaluation.
        noise_threshold: Noise share of an observation's variance (fitted) above which
            re-evaluation is allowed and the recommendation is the best posterior mean rather
            than the best observation.
        ordered_kernel: Ordered decisions (integers, float grids and bins) are compared by
            distance; ``False`` compares every decision by overlap (equal or not).
        squared_ordinal: Ordered decisions are compared by the squared distance of their
            positions, ``((a - b) / (n - 1))^2``, a kernel smooth along the order (a Gaussian
            in the position), rather than ``|a - b| / (n - 1)`` (an exponential kernel, rough
            between neighbours). A decision a child did not take is then at distance 3/4 to 1
            from each action rather than exactly 1. ``False``: the absolute distance (the
            default until 2026-12-02; ``docs/model-experiments.md``).
        refit_growth: The hyperparameters are refitted when the finished trials have grown by
            this fraction since the last fit (every trial while that is under one).
        max_fit_trials: At most this many trials (a seeded subset) fit the hyperparameters; the
            posterior uses all of them.
        capped_refit_growth: ``refit_growth`` once the trials outnumber ``max_fit_trials``: a
            fit then sees that many trials however many there are, while the posterior's
            factor that each refit rebuilds costs O(n^3). At 1,000 trials, 0.5 refits about every
            350 trials instead of every 90 (``docs/model-experiments.md``).
        prior: The hyperparameters' prior.
    """

    n_candidates: int = 256
    n_startup_trials: int = 10
    policy_fraction: float = 0.0
    acquisition: str = "ei"
    share_candidates: bool = False
    drop_repeats: bool = True
    reevaluate: bool = True
    max_evaluations: int = 4
    noise_threshold: float = 0.1
    ordered_kernel: bool = True
    squared_ordinal: bool = True
    refit_growth: float = 0.1
    max_fit_trials: int = 300
    capped_refit_growth: float = 0.5
    prior: Prior = field(default_factory=Prior)

    def __post_init__(self) -> None:
        if not (isinstance(self.n_candidates, int) and self.n_candidates >= 1):
            raise ValueError(f"n_candidates must be an int >= 1, but got {self.n_candidates!r}.")
        if not (isinstance(self.n_startup_trials, int) and self.n_startup_trials >= 2):
            raise ValueError(
                f"n_startup_trials must be an int >= 2, but got {self.n_startup_trials!r}."
            )
        if not 0.0 <= self.policy_fraction <= 1.0:
            raise ValueError(f"policy_fraction must be in [0, 1], but got {self.policy_fraction}.")
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(
                f"acquisition must be one of {ACQUISITIONS}, but got {self.acquisition!r}."
            )
        if not (isinstance(self.max_evaluations, int) and self.max_evaluations >= 1):
            raise ValueError(
                f"max_evaluations must be an int >= 1, but got {self.max_evaluations!r}."
            )
        if not 0.0 < self.noise_threshold < 1.0:
            raise ValueError(f"noise_threshold must be in (0, 1), but got {self.noise_threshold}.")
        if not self.refit_growth >= 0.0:
            raise ValueError(f"refit_growth must be >= 0, but got {self.refit_growth}.")
        if not self.capped_refit_growth >= 0.0:
            raise ValueError(
                f"capped_refit_growth must be >= 0, but got {self.capped_refit_growth}."
            )
        if not (isinstance(self.max_fit_trials, int) and self.max_fit_trials >= 2):
            raise ValueError(
                f"max_fit_trials must be an int >= 2, but got {self.max_fit_trials!r}."
            )
        if not isinstance(self.prior, Prior):
            raise TypeError(f"prior must be a Prior, but got {self.prior!r}.")

    def replace(self, **changes: object) -> ModelConfig:
        return replace(self, **changes)  # type: ignore[arg-type]
