"""The model's recommendation for a study read from storage (``rlnas best``, the dashboard)."""

from __future__ import annotations

from optuna import Study
from optuna.trial import FrozenTrial

from optuna_rlnas._sampler import RLNASSampler


def recommended_trial(study: Study, sampler: RLNASSampler | None = None) -> FrozenTrial | None:
    """The trial of the child the reward model recommends, next to Optuna's ``best_trial``.

    Under noise (a child's value varies between evaluations: seeds, data order) the best
    observed value is often a lucky evaluation; the recommendation is the child with the best
    posterior mean of the model (:meth:`RLNASSampler.recommended_trial`). ``sampler``: the one
    to ask (it consumes the study first); by default the study's own sampler when it is an
    ``RLNASSampler`` with a model, else a fresh one that rebuilds the model from storage.

    Example:
        >>> import optuna
        >>> from optuna_rlnas import recommended_trial
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(lambda t: t.suggest_int("x", 0, 9), n_trials=12)
        >>> recommended_trial(study).number == study.best_trial.number  # no noise here
        True
    """
    if sampler is None:
        own = study.sampler
        if isinstance(own, RLNASSampler) and own.model_config is not None:
            sampler = own
        else:
            sampler = RLNASSampler(seed=0)
    return sampler.recommended_trial(study)
