"""Every use of Optuna's private API in one place, so an Optuna upgrade breaks one file."""

from __future__ import annotations

from optuna import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


def all_trials(study: Study) -> list[FrozenTrial]:
    """All trials of the study, without deep copies, from the per-trial cache of ``Study``.

    The list must not be mutated. ``use_cache=True`` reads storage once per trial, not per call.
    """
    return study._get_trials(deepcopy=False, use_cache=True)


def trial_by_number(study: Study, number: int) -> FrozenTrial:
    """One trial of the study, read from storage (through the public storage API)."""
    storage = study._storage
    return storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    )


def trial_id(trial: FrozenTrial) -> int:
    return trial._trial_id


def set_trial_system_attr(study: Study, trial: FrozenTrial, key: str, value: object) -> None:
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def fail_trial(study: Study, trial: FrozenTrial) -> None:
    """End a running trial as FAIL (what Optuna does when the objective raises)."""
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def set_trial_user_attr(study: Study, trial: FrozenTrial, key: str, value: object) -> None:
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def is_multi_objective(study: Study) -> bool:
    return study._is_multi_objective()


def lazy_random_state(seed: int):  # -> optuna.samplers._lazy_random_state.LazyRandomState
    """Optuna's own seeded generator wrapper, which its sampler tests recognise."""
    from optuna.samplers._lazy_random_state import LazyRandomState

    return LazyRandomState(seed)


def forget_cached_trials(study: Study) -> None:
    """Drop the trial cache of ``Study`` so the next read sees trials finished since.

    Optuna clears it at ``ask`` and ``tell``; code that polls storage outside the optimize loop
    must clear it itself.
    """
    study._thread_local.cached_all_trials = None


def set_study_system_attr(study: Study, key: str, value: object) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def study_system_attrs(study: Study) -> dict[str, object]:
    return study._storage.get_study_system_attrs(study._study_id)
