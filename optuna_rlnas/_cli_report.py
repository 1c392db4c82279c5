"""What ``rlnas search`` reports, one line per event: a join, stale trials, retries, the summary.

Vocabulary: *validation accuracy* is what a child scores; a trial's *value* is what the
objective returns (the validation accuracy, times the MnasNet cost factor with ``--cost``);
the *reward* is what the RL controller learns from (the value cubed, Sec. 4.1).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._cli_settings import DEFAULT_STORAGE
from optuna_rlnas._cli_settings import DEFAULT_STUDY
from optuna_rlnas.storage import mask_url


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _numbers(numbers: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(f"#{n}" for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def joined_line(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    counts = [
        f"{sum(t.state == state for t in trials)} {word}"
        for state, word in (
            (TrialState.COMPLETE, "complete"),
            (TrialState.PRUNED, "pruned"),
            (TrialState.FAIL, "failed"),
            (TrialState.RUNNING, "running"),
            (TrialState.WAITING, "waiting"),
        )
        if any(t.state == state for t in trials)
    ]
    detail = f" ({', '.join(counts)})" if counts else ""
    return f"joined study {study.study_name!r} with {_plural(len(trials), 'trial')}{detail}"


def stale_trials(study: optuna.Study, storage: optuna.storages.RDBStorage) -> dict[int, float]:
    """RUNNING trials whose worker has missed two heartbeats (likely dead): number -> seconds
    since the last one. Empty without heartbeats (nothing to tell a live worker from a dead)."""
    interval = storage.heartbeat_interval
    if interval is None:
        return {}
    ages = _private.running_heartbeat_ages(study)
    return {n: a for n, a in sorted(ages.items()) if a is not None and a > 2 * interval}


def stale_line(
    study: optuna.Study, storage: optuna.storages.RDBStorage, max_retry: int
) -> str | None:
    """One line on the stale trials and what happens to them; ``None`` if there are none."""
    interval = storage.heartbeat_interval
    if interval is None:
        running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        if not running:
            return None
        return (
            f"{_plural(len(running), 'running trial')} ({_numbers(running)}) stay RUNNING if "
            "their workers are gone: heartbeats are off (--heartbeat-interval 0)"
        )
    stale = stale_trials(study, storage)
    if not stale:
        return None
    grace = storage.grace_period or 2 * interval
    fate = "failed and retried" if max_retry else "failed (not retried: --max-retry 0)"
    return (
        f"{_plural(len(stale), 'stale trial')} ({_numbers(list(stale))}, no heartbeat for up to "
        f"{max(stale.values()):.0f} s) will be {fate} after the {grace} s grace period"
    )


def retry_lines(study: optuna.Study, since: int, stale_before: set[int]) -> list[str]:
    """Retries made since trial number ``since``, and the trials stale then that were failed
    without a retry (``--max-retry`` reached)."""
    lines, retried = [], set()
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        history = trial.system_attrs.get("retry_history")
        if trial.number >= since and isinstance(history, list) and history:
            retried.add(history[-1])
            lines.append(
                f"trial #{history[-1]} was retried as #{trial.number} (its heartbeat had stopped)"
            )
    for number in sorted(stale_before - retried):
        if trials[number].state == TrialState.FAIL:
            lines.append(f"trial #{number} was failed: its heartbeat had stopped (not retried)")
    return lines


def summary(
    study: optuna.Study,
    url: str,
    name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> None:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = states.count(TrialState.COMPLETE)
    pruned = states.count(TrialState.PRUNED)
    failed = states.count(TrialState.FAIL)
    print(
        f"{done} complete, {pruned} pruned and {failed} failed trials in study {name!r} "
        f"at {mask_url(url)}"
    )
    if done == 0:
        print("no complete trial yet, so no best architecture")
        return
    best = study.best_trial
    accuracy = best.user_attrs.get("val_acc", best.value)
    line = f"best trial: #{best.number}, validation accuracy {accuracy:.4f}"
    if "cost" in best.user_attrs:
        line += f", value {best.value:.4f} (accuracy x cost factor)"
    reward_of = getattr(sampler, "reward", None)  # RLNASSampler: what its controller learns
    if reward_of is not None:
        try:
            reward = reward_of(study, best)
        except ValueError:  # a value its reward_fn refuses: the sampler learnt nothing from it
            reward = None
        line += "" if reward is None else f", controller reward {reward:.4f}"
    print(line)
    from optuna_rlnas import RLNASSampler  # loaded by the search already

    chosen = None
    if isinstance(sampler, RLNASSampler) and sampler.model_config is not None:
        chosen = sampler.recommended_trial(study)
    if chosen is not None and chosen.number != best.number:
        print(
            f"the reward model recommends trial #{chosen.number} (validation accuracy "
            f"{chosen.user_attrs.get('val_acc', chosen.value):.4f}, best posterior mean): "
            "rlnas best --trial recommended"
        )
    from optuna_rlnas.child import trial_architecture  # loaded by the search already

    architecture = trial_architecture(best)
    print(f"best architecture ({best.user_attrs.get('n_params', '?')} parameters):")
    print(f"  {architecture if architecture is not None else best.params}")
    storage = "" if url == DEFAULT_STORAGE else f" --storage {shlex.quote(mask_url(url))}"
    named = "" if name == DEFAULT_STUDY else f" --study-name {shlex.quote(name)}"
    print(f"open the dashboard: rlnas dashboard{storage}")
    print(f"test the best architecture: rlnas best{storage}{named}")
