"""Which finished trials a sampler has consumed.

Each sampler consumes every finished trial of its study once (a reward taken, or a FAIL trial
skipped), in trial-number order among those finished at each read; a trial that finishes late
(a lower number than some already consumed) is consumed at the next read. Nothing about it is
stored: a new sampler starts with nothing consumed and rebuilds its policy by consuming the
history. Plain Python on Optuna's trials; no torch.
"""

from __future__ import annotations

from optuna import Study
from optuna.trial import FrozenTrial

from optuna_rlnas import _optuna_private as _private

# Before a trial, up to this many candidates are read one by one rather than in one bulk read,
# whose cost grows with the study (docs/decisions.md).
_DIRECT_READS = 2


class Ledger:
    """The trial numbers consumed so far.

    Example:
        >>> ledger = Ledger()
        >>> ledger.consume(1)
        >>> ledger.is_consumed(0), ledger.is_consumed(1), ledger.n_consumed
        (False, True, 1)
    """

    def __init__(self) -> None:
        # Every number below _next is consumed; _done holds consumed numbers at or above it
        # (trials that finished out of order).
        self._next = 0
        self._done: set[int] = set()
        self.n_consumed = 0

    @property
    def first_unconsumed(self) -> int:
        """Every trial numbered below this was consumed (so it has finished)."""
        return self._next

    def is_consumed(self, number: int) -> bool:
        return number < self._next or number in self._done

    def consume(self, number: int) -> None:
        if self.is_consumed(number):
            raise ValueError(f"trial {number} was consumed already.")
        self._done.add(number)
        self.n_consumed += 1
        while self._next in self._done:
            self._done.remove(self._next)
            self._next += 1

    def unconsumed(self, study: Study, before: int | None = None) -> list[FrozenTrial]:
        """The finished trials of ``study`` not consumed yet, in number order.

        ``before``: the number of the trial about to start, when known (every lower number
        exists), which lets a few candidates be read one by one.
        """
        if before is not None:
            candidates = [n for n in range(self._next, before) if n not in self._done]
            if len(candidates) <= _DIRECT_READS:
                trials = [_private.trial_by_number(study, n) for n in candidates]
                return [t for t in trials if t.state.is_finished()]
        trials = _private.all_trials(study)
        if trials and trials[-1].number != len(trials) - 1:
            trials = sorted(trials, key=lambda t: t.number)
        return [
            t for t in trials[self._next :] if t.state.is_finished() and t.number not in self._done
        ]
