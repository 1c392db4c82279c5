"""The ``study.optimize`` callback that keeps the controller's figures in optuna-dashboard."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

from optuna import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._sampler import RLNASSampler
from optuna_rlnas.child._attributes import trial_architecture
from optuna_rlnas.dashboard._architecture import architecture_figure
from optuna_rlnas.dashboard._data import best_trial
from optuna_rlnas.dashboard._data import entropy_by_update
from optuna_rlnas.dashboard._data import latest_recorded_trial
from optuna_rlnas.dashboard._data import policy_along
from optuna_rlnas.dashboard._data import reward_points
from optuna_rlnas.dashboard._deps import require
from optuna_rlnas.dashboard._figures import entropy_figure
from optuna_rlnas.dashboard._figures import reward_figure
from optuna_rlnas.dashboard._policy import policy_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

# Graph object ids: fixed, so each refresh overwrites the previous figure (any worker may write).
FIGURE_IDS = {
    "reward": "rlnas-reward",
    "entropy": "rlnas-entropy",
    "policy": "rlnas-policy",
    "architecture": "rlnas-best-architecture",
}


class DashboardCallback:
    """Keeps the controller's figures in optuna-dashboard up to date while the search runs.

    Every ``every`` finished trials (and on the first), saves the controller's figures and a
    markdown note to the study with optuna-dashboard's ``save_plotly_graph_object`` and
    ``save_note``. Call :meth:`refresh` once after ``optimize`` for figures of the final state.
    Drawing reads the study's trials once and takes tens of milliseconds (see
    ``docs/dashboard.md``); any storage works, SQLite and PostgreSQL included, and workers
    sharing a study overwrite the same figures.

    Args:
        sampler: The study's :class:`RLNASSampler`: its reward rule, baseline decay and
            current policy are what the figures show.
        every: Refresh after this many finished trials.

    Example:
        >>> import optuna
        >>> from optuna_rlnas import RLNASSampler
        >>> from optuna_rlnas.dashboard import DashboardCallback
        >>> sampler = RLNASSampler(seed=0)
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)
        >>> callback = DashboardCallback(sampler, every=5)
        >>> study.optimize(lambda t: t.suggest_categorical("layer_0/filters", [8, 16]),
        ...                n_trials=6, callbacks=[callback])
        >>> sorted(callback.refresh(study))
        ['entropy', 'policy', 'reward']
    """

    def __init__(self, sampler: RLNASSampler, *, every: int = 5) -> None:
        if not isinstance(sampler, RLNASSampler):
            raise TypeError(f"sampler must be an RLNASSampler, but got {sampler!r}.")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, but got {every!r}.")
        require("optuna_dashboard")
        require("plotly.graph_objects")
        self.sampler = sampler
        self.every = every
        self.n_refreshes = 0
        self.last_refresh_s: float | None = None  # wall time of the latest refresh
        self._n_calls = 0

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        self._n_calls += 1
        if self._n_calls == 1 or self._n_calls % self.every == 0:
            try:
                self.refresh(study)
            except Exception as exc:  # a figure must never stop a search of many hours
                warnings.warn(f"the controller figures were not refreshed: {exc!r}", stacklevel=2)

    def figures(self, study: Study) -> dict[str, go.Figure]:
        """The figures for the study's current state, keyed like :data:`FIGURE_IDS`.

        A study without rewards has no reward figure; without recorded entropies no entropy
        figure; without a recorded architecture (``optuna_rlnas.child.record_architecture``) no
        architecture figure.
        """
        figures: dict[str, go.Figure] = {}
        points = reward_points(study, self.sampler)
        if points:
            figures["reward"] = reward_figure(points)
        entropies = entropy_by_update(study)
        if entropies:
            figures["entropy"] = entropy_figure(entropies)
        target = best_trial(study, self.sampler) or latest_recorded_trial(study)
        if target is not None:
            policy = policy_along(self.sampler, target)
            if policy.decisions:  # a trial without decisions has no policy to show
                figures["policy"] = policy_figure(policy)
        best = best_trial(study, self.sampler, with_architecture=True)
        architecture = trial_architecture(best) if best is not None else None
        if best is not None and architecture is not None:
            title = f"Best architecture (trial {best.number})"
            figures["architecture"] = architecture_figure(architecture, title=title)
        return figures

    def refresh(self, study: Study) -> list[str]:
        """Save the figures and the note now; returns the keys of the figures saved."""
        dashboard = require("optuna_dashboard")
        start = time.perf_counter()
        figures = self.figures(study)
        for key, fig in figures.items():
            dashboard.save_plotly_graph_object(study, fig, graph_object_id=FIGURE_IDS[key])
        dashboard.save_note(study, self.note(study))
        self.last_refresh_s = time.perf_counter() - start
        self.n_refreshes += 1
        return list(figures)

    def note(self, study: Study) -> str:
        """The study's markdown note: the controller's state and the best child."""
        points = reward_points(study, self.sampler)
        counts = {s: 0 for s in TrialState}
        for trial in _private.all_trials(study):
            counts[trial.state] += 1
        lines = [
            "## RL-NAS controller",
            "",
            f"- trials: {counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} "
            f"pruned, {counts[TrialState.FAIL]} failed, {counts[TrialState.RUNNING]} running",
            f"- controller updates (this worker): {self.sampler.n_updates}; "
            f"baseline b: {_fmt(self.sampler.baseline)}",
            f"- rewards: {len(points)}; best reward: "
            f"{_fmt(max((p.reward for p in points), default=None))}",
        ]
        best = best_trial(study, self.sampler, with_architecture=True)
        if best is not None:
            attrs = best.user_attrs
            architecture = trial_architecture(best)
            lines += [
                "",
                f"### Best child: trial {best.number}",
                "",
                f"- value: {_fmt(best.values[0] if best.values else None)}",
                f"- parameters: {attrs.get('n_params', '?')}; "
                f"training time: {attrs.get('train_time_s', '?')} s",
                f"- architecture: `{architecture if architecture is not None else '?'}`",
            ]
        recommended = self.sampler.recommended_trial(study) if self.sampler.model_config else None
        if recommended is not None and recommended.number != _optuna_best(study):
            lines += [
                "",
                f"### The reward model recommends trial {recommended.number}",
                "",
                "- its child has the best posterior mean: on a noisy objective a safer pick than "
                "the best single value (`rlnas best --trial recommended`)",
                f"- value: {_fmt(recommended.values[0] if recommended.values else None)}",
            ]
        if self.last_refresh_s is not None:
            lines += [
                "",
                f"_Figures refreshed every {self.every} trials; the previous refresh "
                f"took {self.last_refresh_s * 1e3:.0f} ms._",
            ]
        return "\n".join(lines)


def _optuna_best(study: Study) -> int | None:
    try:
        return study.best_trial.number
    except (ValueError, RuntimeError):  # no complete trial; a multi-objective study
        return None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
