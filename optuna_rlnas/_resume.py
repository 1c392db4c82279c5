"""Joining, leaving and resuming a shared study: the worker's side.

Resume is by replay. A sampler's controller is a function of its seed, its configuration and the
finished trials it consumed, in the order it consumed them; a process that joins a study builds a
fresh ``RLNASSampler(seed=...)`` and its first ``before_trial`` (or :meth:`RLNASSampler.consume`)
replays every finished trial in number order. Nothing but JSON is read from storage: each trial's
parameters and its ``rlnas:trial`` record. See ``docs/scale-out.md`` for why no checkpoint and
what a replay costs.

A worker that leaves calls :func:`finish_worker`: it waits until no trial of the study is running
or waiting, consumes the rest, and records its controller's state as a study system attribute
``rlnas:worker:<id>`` (JSON), so a fleet can be checked: every worker consumed every trial.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
import warnings
from typing import Any

import optuna
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._sampler import RLNASSampler

WORKER_PREFIX = "rlnas:worker:"


def worker_state(sampler: RLNASSampler) -> dict[str, Any]:
    """What a worker records about its controller: JSON-safe numbers only."""
    return {
        "n_consumed": sampler.n_consumed,
        "n_updates": sampler.n_updates,
        "baseline": sampler.baseline,
        # A fingerprint of the policy: equal for controllers that made the same updates.
        "param_sq_norm": float(
            sum(float(p.detach().double().pow(2).sum()) for p in sampler.controller.parameters())
        ),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": time.time(),
    }


def record_worker_state(
    study: optuna.Study, sampler: RLNASSampler, worker_id: str | None = None
) -> str:
    """Write ``sampler``'s state to the study as ``rlnas:worker:<worker_id>``; returns the id."""
    worker_id = worker_id or uuid.uuid4().hex[:12]
    _private.set_study_system_attr(study, WORKER_PREFIX + worker_id, worker_state(sampler))
    return worker_id


def worker_states(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """The recorded state of every worker that finished, by worker id."""
    return {
        key[len(WORKER_PREFIX) :]: value
        for key, value in _private.study_system_attrs(study).items()
        if key.startswith(WORKER_PREFIX) and isinstance(value, dict)
    }


def wait_for_trials(
    study: optuna.Study, *, n_finished: int | None = None, timeout: float, poll: float = 0.5
) -> bool:
    """Wait until no trial is RUNNING and at least ``n_finished`` trials finished.

    ``False`` if ``timeout`` seconds pass first. Without ``n_finished`` this is best effort:
    another worker between two trials has none running for a moment. With heartbeats on, each
    poll also fails the trials of dead workers (their retries wait, as WAITING trials, for the
    next worker), so a dead worker holds the wait for at most the grace period.
    """
    deadline = time.monotonic() + timeout
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats
        _private.forget_cached_trials(study)
        trials = _private.all_trials(study)
        finished = sum(t.state.is_finished() for t in trials)
        running = any(t.state == TrialState.RUNNING for t in trials)
        if finished >= (n_finished or 0) and not running:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def finish_worker(
    study: optuna.Study,
    sampler: RLNASSampler,
    *,
    n_finished: int | None = None,
    worker_id: str | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """After a worker's last trial: wait for the others, consume the rest, record the state.

    Args:
        n_finished: Wait for this many finished trials (the study's total, when known), as
            well as for no trial running or waiting.
        worker_id: The key of the record, ``rlnas:worker:<worker_id>`` (random by default).
        timeout: Seconds to wait at most; then the worker consumes what has finished.

    Returns the recorded state, with ``worker_id`` and ``complete`` (whether the wait ended
    before ``timeout``) added.
    """
    complete = wait_for_trials(study, n_finished=n_finished, timeout=timeout)
    sampler.consume(study)
    worker_id = record_worker_state(study, sampler, worker_id)
    return {**worker_state(sampler), "worker_id": worker_id, "complete": complete}
