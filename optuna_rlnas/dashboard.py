"""See the search in optuna-dashboard: the controller's learning and the best child.

:class:`DashboardCallback` is an ``study.optimize`` callback that, every few trials, saves four
plotly figures to the study through optuna-dashboard's own API (they are study system attributes,
so they work with any storage and every worker sees them) and a markdown note:

* reward and baseline over trials (the baseline is derived, not stored: the moving average of
  Eq. (2) replayed over the rewards in trial order with the sampler's ``baseline_decay``);
* the policy's entropy over controller updates (each trial's recorded entropy, grouped by the
  update count at which the trial was sampled);
* the current policy's probabilities at every decision of the best trial (a heatmap);
* the best architecture so far, drawn as layers and skip connections.

Per trial, the user attributes shown in the trial list come from the objective (``architecture``,
``n_params``, ``train_time_s``) and from the sampler (``rlnas:log_prob``, ``rlnas:entropy``).

optuna-dashboard and plotly are optional (``pip install "optuna-rlnas[dashboard]"``); they are
imported on first use.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from optuna import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._sampler import TRIAL_KEY
from optuna_rlnas._sampler import RLNASSampler

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "FIGURE_IDS",
    "DashboardCallback",
    "RewardPoint",
    "architecture_figure",
    "baseline_trace",
    "entropy_figure",
    "policy_figure",
    "reward_figure",
    "reward_points",
    "serve",
]

_INSTALL_HINT = (
    'the dashboard needs optuna-dashboard and plotly: pip install "optuna-rlnas[dashboard]"'
)

# Graph object ids: fixed, so each refresh overwrites the previous figure (any worker may write).
FIGURE_IDS = {
    "reward": "rlnas-reward",
    "entropy": "rlnas-entropy",
    "policy": "rlnas-policy",
    "architecture": "rlnas-best-architecture",
}
ARCHITECTURE_ATTR = "architecture_json"  # user attr written by optuna_rlnas.child.make_objective
_MAX_TICK = 28  # decision names longer than this are shortened on the heatmap's axis


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{exc.name} is missing; {_INSTALL_HINT}.") from exc


# ---------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RewardPoint:
    """One trial's reward, as the sampler's REINFORCE update sees it."""

    number: int
    reward: float
    pruned: bool


def _finished(study: Study) -> list[FrozenTrial]:
    trials = [t for t in _private.all_trials(study) if t.state.is_finished()]
    return sorted(trials, key=lambda t: t.number)


def reward_points(study: Study, sampler: RLNASSampler) -> list[RewardPoint]:
    """The rewards of the finished trials in trial-number order (FAIL and non-finite skipped).

    Rewards follow the sampler: its ``reward_fn`` if any, else the value signed by the study's
    direction; PRUNED trials count with their last intermediate value when the sampler
    considers them.
    """
    points = []
    for trial in _finished(study):
        reward = sampler.reward(study, trial)
        if reward is not None:
            points.append(RewardPoint(trial.number, reward, trial.state == TrialState.PRUNED))
    return points


def baseline_trace(rewards: Sequence[float], decay: float, trials_per_update: int) -> list[float]:
    """The baseline b of Eq. (2) that each reward's advantage ``R - b`` is measured against.

    Replays the sampler's rule: b starts at the mean of the first update's rewards; after each
    update, ``b <- decay * b + (1 - decay) * R`` for every reward of its batch, in order. Rewards
    of the batch not yet complete get the current b (the one their update will use).

    Example:
        >>> baseline_trace([1.0, 3.0, 5.0, 7.0, 9.0], decay=0.5, trials_per_update=2)
        [2.0, 2.0, 2.25, 2.25, 5.3125]
    """
    m = trials_per_update
    if not rewards:
        return []
    trace: list[float] = []
    baseline = sum(rewards[:m]) / len(rewards[:m])
    for start in range(0, len(rewards), m):
        batch = rewards[start : start + m]
        trace.extend([baseline] * len(batch))
        if len(batch) == m:
            for r in batch:
                baseline += (1 - decay) * (r - baseline)
    return trace


def _entropy_by_update(study: Study) -> dict[int, list[float]]:
    groups: dict[int, list[float]] = {}
    for trial in _finished(study):
        record = trial.system_attrs.get(TRIAL_KEY)
        if not isinstance(record, dict) or record.get("sampled") == []:
            continue  # no record, or every decision fixed or enqueued: no policy entropy
        entropy, update = record.get("entropy"), record.get("update")
        if isinstance(entropy, (int, float)) and math.isfinite(entropy) and isinstance(update, int):
            groups.setdefault(update, []).append(float(entropy))
    return dict(sorted(groups.items()))


def _best_trial(study: Study, sampler: RLNASSampler, attr: str | None = None) -> FrozenTrial | None:
    """The trial with the largest reward (the sampler's notion of best), optionally among those
    carrying the user attribute ``attr``; works for multi-objective studies with a reward_fn."""
    best, best_reward = None, -math.inf
    for trial in _finished(study):
        if attr is not None and attr not in trial.user_attrs:
            continue
        reward = sampler.reward(study, trial)
        if reward is not None and reward > best_reward:
            best, best_reward = trial, reward
    return best


# ------------------------------------------------------------------------------- figures
def _layout(go: Any, title: str, **kwargs: Any) -> Any:
    kwargs.setdefault("margin", {"l": 60, "r": 20, "t": 50, "b": 50})
    return go.Layout(
        title={"text": title, "x": 0.02, "xanchor": "left"}, template="plotly_white", **kwargs
    )


def reward_figure(study: Study, sampler: RLNASSampler) -> go.Figure:
    """Reward per trial and the baseline b it was compared with (Eq. 2)."""
    go = _require("plotly.graph_objects")
    points = reward_points(study, sampler)
    cfg = sampler.update_config
    baseline = baseline_trace([p.reward for p in points], cfg.baseline_decay, cfg.trials_per_update)
    x = [p.number for p in points]
    fig = go.Figure(
        layout=_layout(
            go,
            "Controller: reward and baseline",
            xaxis={"title": {"text": "trial"}},
            yaxis={"title": {"text": "reward"}},
            legend={"orientation": "h", "y": -0.2},
        )
    )
    for pruned, name, symbol in ((False, "reward", "circle"), (True, "reward (pruned)", "x")):
        chosen = [p for p in points if p.pruned == pruned]
        if chosen or not pruned:
            fig.add_trace(
                go.Scatter(
                    x=[p.number for p in chosen],
                    y=[p.reward for p in chosen],
                    mode="markers",
                    name=name,
                    marker={"symbol": symbol, "size": 7},
                )
            )
    best = []
    for p in points:
        best.append(p.reward if not best else max(best[-1], p.reward))
    fig.add_trace(go.Scatter(x=x, y=best, mode="lines", name="best so far", line={"dash": "dot"}))
    fig.add_trace(
        go.Scatter(x=x, y=baseline, mode="lines", name="baseline b", line={"shape": "hv"})
    )
    return fig


def entropy_figure(study: Study) -> go.Figure:
    """Entropy of the sampled architectures per controller update: mean, min and max.

    Each trial records the entropy of the policy along its own path (the sum over its
    decisions) and the update count at which it was sampled; a shrinking entropy is the
    controller becoming sure of itself.
    """
    go = _require("plotly.graph_objects")
    groups = _entropy_by_update(study)
    updates = list(groups)
    means = [sum(v) / len(v) for v in groups.values()]
    title = "Controller: policy entropy over updates"
    if len(means) == 1:
        title += f"<br><sup>mean {means[0]:.4g} nats, all at update {updates[0]}</sup>"
    elif means:  # the axis autoscales, so state the size of the change in words
        change = means[-1] - means[0]
        percent = 100 * change / abs(means[0]) if means[0] else 0.0
        title += (
            f"<br><sup>mean {means[0]:.4g} nats at update {updates[0]}, {means[-1]:.4g} at "
            f"update {updates[-1]} ({change:+.2g} nats, {percent:+.2g}%)</sup>"
        )
    fig = go.Figure(
        layout=_layout(
            go,
            title,
            xaxis={"title": {"text": "controller update"}},
            yaxis={"title": {"text": "entropy of a sampled architecture (nats)"}},
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=updates + updates[::-1],
            y=[max(v) for v in groups.values()] + [min(v) for v in groups.values()][::-1],
            fill="toself",
            line={"width": 0},
            opacity=0.3,
            hoverinfo="skip",
            name="min-max",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=updates,
            y=means,
            mode="lines+markers",
            name="mean",
            customdata=[len(v) for v in groups.values()],
            hovertemplate="update %{x}: %{y:.3f} nats (%{customdata} trials)<extra></extra>",
        )
    )
    return fig


def _short(name: str) -> str:
    return name if len(name) <= _MAX_TICK else "…" + name[-(_MAX_TICK - 1) :]


def policy_figure(sampler: RLNASSampler, trial: FrozenTrial | None) -> go.Figure:
    """The current policy's probability of each choice at each decision along ``trial``'s path.

    Rows are decisions in the order the controller makes them; columns are the choices in the
    order of the distribution, each cell labelled with its choice. The decisions before a row are
    forced to the trial's actions (teacher forcing, :meth:`RLNASSampler.decision_probabilities`).
    """
    go = _require("plotly.graph_objects")
    probs = sampler.decision_probabilities(trial) if trial is not None else {}
    names = list(probs)
    width = max((len(p) for p in probs.values()), default=0)
    z, text = [], []
    for name in names:
        labels, values = list(probs[name]), list(probs[name].values())
        pad = width - len(values)
        z.append([round(v, 4) for v in values] + [None] * pad)
        text.append([f"{label}" for label in labels] + [""] * pad)
    chosen = trial.params if trial is not None else {}
    title = "Controller: current policy"
    if trial is not None:
        title += f" along trial {trial.number}"
    fig = go.Figure(
        layout=_layout(
            go,
            title,
            xaxis={"title": {"text": "choice"}, "side": "bottom", "dtick": 1},
            yaxis={  # rows by index, so two names shortened alike stay two rows
                "autorange": "reversed",
                "tickfont": {"size": 9 if len(names) <= 26 else 7},
                "tickmode": "array",
                "tickvals": list(range(len(names))),
                "ticktext": [_short(n) for n in names],
            },
            margin={"l": 150, "r": 20, "t": 50, "b": 40},
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=list(range(width)),
            y=list(range(len(names))),
            text=text,
            # Choice labels in the cells while they fit (a paper-sized child has 45 rows).
            texttemplate="%{text}" if len(names) <= 36 else "",
            textfont={"size": 9 if len(names) <= 26 else 7},
            customdata=[[f"{n} (trial chose {chosen.get(n)!r})"] * width for n in names],
            hovertemplate="%{customdata}<br>%{text}: p = %{z:.3f}<extra></extra>",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "p"}, "thickness": 12},
            xgap=1,
            ygap=1,
        )
    )
    return fig


def _layer_label(i: int, layer: Any) -> str:
    stride = f"s{layer.stride_height}x{layer.stride_width}"
    return f"<b>L{i}</b><br>{layer.filters}@{layer.filter_height}x{layer.filter_width}<br>{stride}"


def _arrow(start: tuple[float, float], end: tuple[float, float], color: str) -> dict:
    """A plotly annotation drawing an arrowhead from ``start`` to ``end`` in data coordinates."""
    return {
        "x": end[0],
        "y": end[1],
        "ax": start[0],
        "ay": start[1],
        "xref": "x",
        "yref": "y",
        "axref": "x",
        "ayref": "y",
        "text": "",
        "showarrow": True,
        "arrowhead": 2,
        "arrowwidth": 1.5,
        "arrowcolor": color,
    }


def architecture_figure(architecture: Any, *, title: str = "Best architecture") -> go.Figure:
    """The child network as boxes (image, layers, classifier) with its connections.

    ``architecture`` is an :class:`optuna_rlnas.child.Architecture` or its JSON. Edges between
    consecutive layers are straight; skip connections (Sec. 3.3) arc above the row; layers that
    read the image and layers that feed the classifier are joined to those boxes.
    """
    go = _require("plotly.graph_objects")
    if isinstance(architecture, str):
        from optuna_rlnas.child import Architecture

        architecture = Architecture.from_json(architecture)
    layers = architecture.layers
    n = len(layers)
    boxes = ["<b>image</b>"] + [_layer_label(i, layer) for i, layer in enumerate(layers)]
    boxes.append("<b>classifier</b>")
    xs = list(range(n + 2))  # image at 0, layer i at i + 1, classifier at n + 1
    half = 0.36
    shapes: list[dict[str, Any]] = []
    for x in xs:
        is_layer = 0 < x <= n
        shapes.append(
            {
                "type": "rect",
                "x0": x - half,
                "x1": x + half,
                "y0": -0.45,
                "y1": 0.45,
                "line": {"color": "#1f4e79", "width": 1.5},
                "fillcolor": "#dbe9f6" if is_layer else "#f2f2f2",
                "layer": "below",
            }
        )
    edges: list[tuple[int, int]] = []  # (from x, to x)
    for i, layer in enumerate(layers):
        sources = [j + 1 for j in layer.inputs] if layer.inputs else [0]
        edges.extend((s, i + 1) for s in sources)
    edges.extend((j + 1, n + 1) for j in architecture.outputs)
    annotations = [
        {
            "x": x,
            "y": 0,
            "text": text,
            "showarrow": False,
            "font": {"size": 10 if n <= 10 else 8},
        }
        for x, text in zip(xs, boxes)
    ]
    top = 0.5
    for k, (a, b) in enumerate(sorted(edges, key=lambda e: (e[1] - e[0], e))):
        if b - a == 1:
            annotations.append(_arrow((a + half, 0), (b - half, 0), "#444"))
            continue
        # A skip: a quadratic arc above (odd) or below (even) the row, higher the longer it is.
        sign = 1 if k % 2 else -1
        height = 0.45 + 0.25 * (b - a)
        top = max(top, height)
        y0 = 0.45 * sign
        cx, cy = (a + b) / 2, sign * height * 2 - y0  # control point: the arc peaks at height
        shapes.append(
            {
                "type": "path",
                "path": f"M {a},{y0} Q {cx},{cy} {b},{y0}",
                "line": {"color": "#c55a11", "width": 1.5},
            }
        )
        # The arrowhead, along the arc's tangent at its end.
        annotations.append(_arrow((b + 0.12 * (cx - b), y0 + 0.12 * (cy - y0)), (b, y0), "#c55a11"))
    activations = sorted({layer.activation for layer in layers})
    subtitle = f"{n} layers, activation {'/'.join(activations)}; orange: skip connections"
    fig = go.Figure(
        layout=_layout(
            go,
            f"{title}<br><sup>{subtitle}</sup>",
            xaxis={"visible": False, "range": [-0.6, n + 1.6]},
            yaxis={"visible": False, "range": [-top - 0.3, top + 0.3]},
            shapes=shapes,
            annotations=annotations,
            showlegend=False,
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
        )
    )
    fig.add_trace(  # invisible points give each box a hover text
        go.Scatter(
            x=xs,
            y=[0] * len(xs),
            mode="markers",
            marker={"opacity": 0},
            text=["image"] + [f"L{i} {layer}" for i, layer in enumerate(layers)] + ["classifier"],
            hoverinfo="text",
        )
    )
    return fig


# ------------------------------------------------------------------------------- callback
class DashboardCallback:
    """Keeps the controller's figures in optuna-dashboard up to date while the search runs.

    Every ``every`` finished trials (and on the first), saves the figures of this module and a
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
        _require("optuna_dashboard")
        _require("plotly.graph_objects")
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
        figure; without an ``architecture_json`` user attribute no architecture figure.
        """
        figures: dict[str, go.Figure] = {}
        if reward_points(study, self.sampler):
            figures["reward"] = reward_figure(study, self.sampler)
        if _entropy_by_update(study):
            figures["entropy"] = entropy_figure(study)
        best = _best_trial(study, self.sampler)
        target = best or _latest_with_record(study)
        if target is not None:
            policy = policy_figure(self.sampler, target)
            if policy.data[0].y:  # a trial without decisions has no policy to show
                figures["policy"] = policy
        best_arch = _best_trial(study, self.sampler, ARCHITECTURE_ATTR)
        if best_arch is not None:
            try:
                figures["architecture"] = architecture_figure(
                    best_arch.user_attrs[ARCHITECTURE_ATTR],
                    title=f"Best architecture (trial {best_arch.number})",
                )
            except (ValueError, TypeError):
                pass  # an attribute that is not an architecture: nothing to draw
        return figures

    def refresh(self, study: Study) -> list[str]:
        """Save the figures and the note now; returns the keys of the figures saved."""
        dashboard = _require("optuna_dashboard")
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
        best = _best_trial(study, self.sampler, ARCHITECTURE_ATTR)
        if best is not None:
            attrs = best.user_attrs
            lines += [
                "",
                f"### Best child: trial {best.number}",
                "",
                f"- value: {_fmt(best.values[0] if best.values else None)}",
                f"- parameters: {attrs.get('n_params', '?')}; "
                f"training time: {attrs.get('train_time_s', '?')} s",
                f"- architecture: `{attrs.get('architecture', '?')}`",
            ]
        if self.last_refresh_s is not None:
            lines += [
                "",
                f"_Figures refreshed every {self.every} trials; the previous refresh "
                f"took {self.last_refresh_s * 1e3:.0f} ms._",
            ]
        return "\n".join(lines)


def _latest_with_record(study: Study) -> FrozenTrial | None:
    for trial in reversed(_finished(study)):
        if isinstance(trial.system_attrs.get(TRIAL_KEY), dict):
            return trial
    return None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def serve(
    storage: Any, *, host: str = "127.0.0.1", port: int = 8080, artifact_dir: str | None = None
) -> None:
    """Serve optuna-dashboard for ``storage`` (a URL or an Optuna storage) on ``host:port``.

    Loopback by default: the dashboard can edit notes and delete studies, so expose it on a
    network only on purpose. ``artifact_dir`` is a ``FileSystemArtifactStore`` directory.
    Blocks until interrupted.
    """
    dashboard = _require("optuna_dashboard")
    store = None
    if artifact_dir is not None:
        from optuna.artifacts import FileSystemArtifactStore

        store = FileSystemArtifactStore(artifact_dir)
    dashboard.run_server(storage, host=host, port=port, artifact_store=store)
