"""Every use of Optuna's private API in one place, so an Optuna upgrade breaks one file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from optuna import Study
from optuna._typing import JSONSerializable
from optuna.storages import InMemoryStorage
from optuna.storages import RDBStorage
from optuna.trial import BaseTrial
from optuna.trial import FixedTrial
from optuna.trial import FrozenTrial
from optuna.trial import Trial
from optuna.trial import TrialState

if TYPE_CHECKING:
    from optuna.samplers._lazy_random_state import LazyRandomState


def all_trials(study: Study) -> list[FrozenTrial]:
    """All trials of the study, without deep copies, from the per-trial cache of ``Study``.

    The list must not be mutated. ``use_cache=True`` reads storage once per trial, not per call.
    """
    return study._get_trials(deepcopy=False, use_cache=True)


def running_trials(study: Study, since: int = 0) -> list[FrozenTrial]:
    """The study's RUNNING trials, read from storage now (any worker's). ``since``: every trial
    numbered below it is known to have finished.

    Optuna's in-memory storage filters by state in Python over every trial, a cost that grows
    with the study; its list is in number order, so only the trials from ``since`` on are
    looked at. Other storages answer the state query themselves (an index in the database)."""
    storage = study._storage
    if isinstance(storage, InMemoryStorage):
        trials = storage.get_all_trials(study._study_id, deepcopy=False)
        return [t for t in trials[since:] if t.state == TrialState.RUNNING]
    return storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))


def trial_by_number(study: Study, number: int) -> FrozenTrial:
    """One trial of the study, read from storage (through the public storage API)."""
    storage = study._storage
    return storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    )


def has_fixed_params(trial: FrozenTrial) -> bool:
    """Whether ``trial`` has parameters fixed before it started (enqueued, retried)."""
    return "fixed_params" in trial.system_attrs


def trial_id(trial: FrozenTrial) -> int:
    return trial._trial_id


def set_trial_system_attr(
    study: Study, trial: FrozenTrial, key: str, value: JSONSerializable
) -> None:
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def fail_trial(study: Study, trial: FrozenTrial) -> None:
    """End a running trial as FAIL (what Optuna does when the objective raises)."""
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def set_trial_user_attr(study: Study, trial: FrozenTrial, key: str, value: object) -> None:
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def is_multi_objective(study: Study) -> bool:
    return study._is_multi_objective()


def lazy_random_state(seed: int) -> LazyRandomState:
    """Optuna's own seeded generator wrapper, which its sampler tests recognise."""
    from optuna.samplers._lazy_random_state import LazyRandomState

    return LazyRandomState(seed)


def forget_cached_trials(study: Study) -> None:
    """Drop the trial cache of ``Study`` so the next read sees trials finished since.

    Optuna clears it at ``ask`` and ``tell``; code that polls storage outside the optimize loop
    must clear it itself.
    """
    study._thread_local.cached_all_trials = None


def set_study_system_attr(study: Study, key: str, value: JSONSerializable) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def study_system_attrs(study: Study) -> dict[str, object]:
    return study._storage.get_study_system_attrs(study._study_id)


def _rdb_storage(study: Study) -> RDBStorage:
    storage = study._storage
    storage = getattr(storage, "_backend", storage)  # unwrap Optuna's _CachedStorage
    if not isinstance(storage, RDBStorage):
        raise TypeError(f"needs a study in an RDBStorage, but got {type(storage).__name__}.")
    return storage


def add_study_user_attr_if_absent(study: Study, key: str, value: object) -> bool:
    """Write a study user attribute unless it exists; ``True`` if this call wrote it.

    One INSERT against the table's unique (study, key) constraint, so of many processes that
    call it at once exactly one writes (SQLite, PostgreSQL, MySQL). ``set_user_attr`` would
    update an existing value instead: the last writer would win.
    """
    from optuna.storages._rdb import models
    from sqlalchemy.exc import IntegrityError

    session = _rdb_storage(study).scoped_session()
    try:
        session.add(
            models.StudyUserAttributeModel(
                study_id=study._study_id, key=key, value_json=json.dumps(value)
            )
        )
        session.commit()
        return True
    except IntegrityError:  # another process wrote it first
        session.rollback()
        return False
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def running_heartbeat_ages(study: Study) -> dict[int, float | None]:
    """Seconds since the last heartbeat of each RUNNING trial, by trial number.

    ``None`` for a trial without a heartbeat record (its worker runs without heartbeats, or
    has not written the first one yet). The ages are measured with the database's clock, as
    Optuna's ``fail_stale_trials`` measures them.
    """
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    from sqlalchemy import orm

    session = _rdb_storage(study).scoped_session()
    try:
        now = session.execute(sqlalchemy.func.now()).scalar_one().replace(tzinfo=None)
        running = (
            session.query(models.TrialModel)
            .options(orm.selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .filter(models.TrialModel.study_id == study._study_id)
            .all()
        )
        # Optuna's models declare plain Column attributes (no Mapped[...]), which type
        # checkers read as the Column itself rather than the loaded value.
        return {
            cast(int, trial.number): (
                (now - trial.heartbeats[0].heartbeat).total_seconds() if trial.heartbeats else None
            )
            for trial in running
        }
    finally:
        session.close()


def set_running_trial_system_attr(trial: BaseTrial, key: str, value: Any) -> None:
    """A system attribute of a trial an objective runs (Optuna 5's ``Trial`` has no setter for
    them). A ``FixedTrial`` or ``FrozenTrial`` has no storage: it keeps the value itself."""
    if isinstance(trial, Trial):
        trial.storage.set_trial_system_attr(trial._trial_id, key, value)
    elif isinstance(trial, (FixedTrial, FrozenTrial)):
        trial.system_attrs[key] = value  # both return their own dictionary
    else:
        raise TypeError(f"cannot record {key!r} on a {type(trial).__name__}.")
