"""A wall-clock budget split between the search and the final phase, and the final phase run.

How the budget is spent (``docs/child-networks.md``, "A search with a budget"):

1. **Search**: ``search_fraction`` of the budget (0.35 by default) on the proxy: a training
   subset, few epochs, Hyperband pruning. A trial still running at the search's deadline is
   pruned at its next step (it keeps the reports of its finished epochs).
2. **Final**: what is left, less a reserve for testing and saving (2% of the budget, or the
   measured time of the test evaluation if longer) and the validation passes, shared equally by
   the ``finalists`` best distinct architectures (2 by default); time a finalist does not use
   goes to the next. Each one's pace is measured first (:func:`seconds_per_step`), and its
   epochs are the whole epochs that fit its share with 5% headroom (at most ``max_epochs``), so
   the cosine schedule ends where the share ends. Should the machine slow down, training stops
   at the budget's end less the reserves, schedule finished or not. A finalist whose search pace
   says it cannot get ``min_epochs`` in its share is passed over for the next best architecture,
   while there is one. The dataset's augmentation is on for finalists that get 30 epochs or
   more (``augment``: always, or never).
3. **Pick and test**: the finalist with the best validation accuracy is tested once on the test
   set, saved (``_export.save``) and uploaded to the artifact store beside its trial.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from optuna_rlnas.child._attributes import record_architecture
from optuna_rlnas.child._checks import check_int
from optuna_rlnas.child._data import ImageDataModule
from optuna_rlnas.child._export import save
from optuna_rlnas.child._export import upload
from optuna_rlnas.child._final import Finalist
from optuna_rlnas.child._final import build
from optuna_rlnas.child._final import evaluate
from optuna_rlnas.child._final import finalists
from optuna_rlnas.child._final import seconds_per_eval_image
from optuna_rlnas.child._final import seconds_per_step
from optuna_rlnas.child._final import train_child
from optuna_rlnas.child._lightning import TrainingConfig

_UNITS = {"s": 1, "m": 60, "h": 3600}
# Augmentation pays on long schedules only: with 15 epochs on 10,000 Fashion-MNIST images it
# cost 0.3 to 1.6 points of test accuracy (benchmarks/final_recipe.py, docs/decisions.md).
AUGMENT_FROM_EPOCHS = 30


def parse_duration(text: str) -> float:
    """Seconds in ``"2h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or a plain number of seconds."""
    text = str(text).strip().lower()
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
    if not text or parts is None or not any(parts.groups()):
        raise ValueError(f"a duration must look like 2h, 90m, 1h30m or 600s, but got {text!r}.")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if not total > 0:
        raise ValueError(f"a duration must be positive, but got {text!r}.")
    return total


@dataclass(frozen=True)
class BudgetPlan:
    """How ``total_s`` seconds are split (see the module's docstring)."""

    total_s: float
    search_fraction: float = 0.35
    finalists: int = 2
    min_epochs: int = 5
    max_epochs: int = 40
    reserve_s: float | None = None  # testing, saving, exporting; None: 2% in [5 s, 60 s]
    augment: bool | None = None  # None: augment finalists that get AUGMENT_FROM_EPOCHS or more

    def __post_init__(self) -> None:
        if not self.total_s > 0:
            raise ValueError(f"total_s must be > 0, but got {self.total_s}.")
        if not 0 < self.search_fraction < 1:
            raise ValueError(f"search_fraction must be in (0, 1), but got {self.search_fraction}.")
        check_int("finalists", self.finalists)
        check_int("min_epochs", self.min_epochs)
        check_int("max_epochs", self.max_epochs)
        if self.max_epochs < self.min_epochs:
            raise ValueError(
                f"max_epochs must be >= min_epochs={self.min_epochs}, but got {self.max_epochs}."
            )

    @property
    def search_s(self) -> float:
        return self.total_s * self.search_fraction

    @property
    def reserve(self) -> float:
        """Seconds kept for testing, saving and exporting the chosen model."""
        if self.reserve_s is not None:
            return self.reserve_s
        return min(60.0, max(5.0, 0.02 * self.total_s))

    def augments(self, epochs: int) -> bool:
        """Whether a finalist trained for ``epochs`` gets the dataset's augmentation."""
        return self.augment if self.augment is not None else epochs >= AUGMENT_FROM_EPOCHS

    def epochs_for(self, share_s: float, epoch_s: float) -> int:
        """Whole epochs of ``epoch_s`` seconds in ``share_s``, within [1, max_epochs]."""
        return max(1, min(self.max_epochs, math.floor(share_s / epoch_s)))


@dataclass
class FinalRun:
    """One finalist's final training."""

    finalist: Finalist
    epochs: int
    augment: bool
    seconds: float
    val_acc: float
    trial: optuna.trial.Trial
    net: Any = field(repr=False)


@dataclass
class FinalReport:
    """What the final phase did, with the time each part took."""

    runs: list[FinalRun]
    chosen: FinalRun
    test_acc: float
    times: list[tuple[str, float]]
    folder: Path
    artifacts: dict[str, str]


def _pick(
    candidates: list[Finalist], plan: BudgetPlan, share_s: float, n_train: int
) -> list[Finalist]:
    # Prefer architectures that get min_epochs in their share, judged by their search pace.
    def fits(f: Finalist) -> bool:
        speed = f.search_images_per_s
        return speed is None or share_s * speed / n_train >= plan.min_epochs

    fitting = [f for f in candidates if fits(f)]
    rest = [f for f in candidates if not fits(f)]
    return (fitting + rest)[: plan.finalists]


def run_final_phase(
    study: optuna.Study,
    final_study: optuna.Study,
    datamodule: ImageDataModule,
    training: TrainingConfig,
    plan: BudgetPlan,
    *,
    deadline: float,
    seed: int,
    folder: str | Path,
    artifact_dir: str | Path | None,
    log: Callable[[str], None] = print,
) -> FinalReport:
    """Retrain the study's best architectures until ``deadline`` (``time.monotonic()``).

    Each finalist is a trial of ``final_study`` (value: its validation accuracy; user attributes
    ``source_trial``, ``architecture``, ``epochs``, ``train_time_s``); the chosen one also gets
    ``test_acc`` and the model's files as artifacts.
    """
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.to_device(training.device())
    n_train = datamodule.n_images("train")
    share = (deadline - time.monotonic() - plan.reserve) / plan.finalists
    chosen = _pick(finalists(study, 3 * plan.finalists), plan, share, n_train)
    if not chosen:
        raise ValueError(f"study {study.study_name!r} has no complete trial to retrain.")
    runs: list[FinalRun] = []
    times: list[tuple[str, float]] = []
    try:
        for k, finalist in enumerate(chosen):
            runs.append(
                _train_finalist(
                    finalist,
                    final_study,
                    datamodule,
                    training,
                    plan,
                    deadline,
                    seed=seed,
                    left=len(chosen) - k,
                    times=times,
                    log=log,
                )
            )
        best = max(runs, key=lambda r: (r.val_acc, -r.finalist.trial_number))
        start = time.perf_counter()
        test_acc = evaluate(best.net, datamodule.test_dataloader())
        times.append(("test (once, the chosen finalist)", time.perf_counter() - start))
        start = time.perf_counter()
        best.trial.set_user_attr("test_acc", test_acc)
        info = _model_info(datamodule, best, test_acc, training)
        title = f"search trial {best.finalist.trial_number}: test accuracy {test_acc:.4f}"
        saved = save(folder, best.net, info=info, title=title)
        artifacts = upload(saved, best.trial, artifact_dir) if artifact_dir is not None else {}
        times.append(("save, export and upload", time.perf_counter() - start))
    except BaseException:
        for run in runs:
            final_study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
        raise
    for run in runs:
        final_study.tell(run.trial, run.val_acc)
    return FinalReport(runs, best, test_acc, times, Path(folder), artifacts)


def _train_finalist(
    finalist: Finalist,
    final_study: optuna.Study,
    datamodule: ImageDataModule,
    training: TrainingConfig,
    plan: BudgetPlan,
    deadline: float,
    *,
    seed: int,
    left: int,
    times: list[tuple[str, float]],
    log: Callable[[str], None],
) -> FinalRun:
    label = f"finalist: search trial {finalist.trial_number}"
    start = time.perf_counter()
    step_s = seconds_per_step(
        lambda: build(finalist.architecture, datamodule), datamodule, training
    )
    epoch_s = step_s * len(datamodule.train_dataloader())
    # Evaluation runs in 32-bit (as a loaded model does), slower than bf16 training on a CPU:
    # its time is kept aside, the validation in this share and the test in the reserve.
    val = datamodule.val_dataloader()
    eval_s = seconds_per_eval_image(build(finalist.architecture, datamodule), val)
    reserve = max(plan.reserve, 1.2 * eval_s * datamodule.n_images("test") + 5)
    end = deadline - reserve - eval_s * len(val.labels)
    share = (end - time.monotonic()) / left
    # 5% headroom: Lightning's set-up, and the machine's load changing.
    epochs = plan.epochs_for(share, 1.05 * epoch_s)

    augment = plan.augments(epochs)
    datamodule.augment = augment  # read when the training loader is made
    log(
        f"{label}: {epoch_s:.1f} s per epoch measured, {epochs} epochs in its {share:.0f} s"
        f"{', augmented' if augment else ''}; {finalist.architecture}"
    )
    trial = final_study.ask()
    trial.set_user_attr("augment", augment)
    trial.set_user_attr("source_trial", finalist.trial_number)
    record_architecture(trial, finalist.architecture)
    trial.set_user_attr("epochs", epochs)
    try:
        net, seconds = train_child(
            finalist.architecture,
            datamodule,
            replace(training, epochs=epochs),
            seed=seed,
            stop_at=end,
        )
        val_acc = evaluate(net, datamodule.val_dataloader())
    except BaseException:
        final_study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    trial.set_user_attr("train_time_s", round(seconds, 1))
    times.append((f"{label} ({epochs} epochs)", time.perf_counter() - start))
    log(f"{label}: validation accuracy {val_acc:.4f} after {seconds:.0f} s")
    return FinalRun(finalist, epochs, augment, seconds, val_acc, trial, net)


def _model_info(
    datamodule: ImageDataModule, run: FinalRun, test_acc: float, training: TrainingConfig
) -> dict[str, Any]:
    return {
        "dataset": datamodule.name,
        "scale": datamodule.scale,
        "mean": list(datamodule.mean),
        "std": list(datamodule.std),
        "test_acc": test_acc,
        "val_acc": run.val_acc,
        "n_test": datamodule.n_images("test"),
        "search_trial": run.finalist.trial_number,
        "epochs": run.epochs,
        "augment": run.augment,
        "training": {k: v for k, v in vars(training).items() if k != "epochs"},
    }
