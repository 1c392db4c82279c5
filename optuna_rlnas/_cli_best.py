"""``rlnas best``: retrain a study's best architecture on training and validation images, test
it once, and with ``--out`` save it as ``rlnas run`` does (``optuna_rlnas.child._export``)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from optuna.trial import TrialState

from optuna_rlnas._cli_common import load_study
from optuna_rlnas._cli_common import make_storage
from optuna_rlnas._cli_settings import SEARCH_DEFAULTS
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas._cli_settings import build_search
from optuna_rlnas._cli_settings import stored_settings


def cmd_best(args: argparse.Namespace) -> int:
    from optuna_rlnas.child import trial_architecture

    storage = make_storage(args.storage, must_exist=True)
    study = load_study(storage, args.study_name, args.storage)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        raise CLIError(f"study {args.study_name!r} has no complete trial yet")
    best = _chosen_trial(study, args.trial, args.study_name)
    architecture = trial_architecture(best)
    if architecture is None:
        raise CLIError(f"trial #{best.number} records no architecture: was it run by rlnas?")
    config = stored_settings(study) or dict(SEARCH_DEFAULTS)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    if args.train_subset is not None:
        config["train_subset"] = args.train_subset or None  # 0 means the whole training set
    search = build_search(config, merge_validation=True)
    datamodule, training = search.datamodule, search.training

    from optuna_rlnas.child import ChildModule
    from optuna_rlnas.child import ChildNet
    from optuna_rlnas.child._lightning import make_trainer
    from optuna_rlnas.child._lightning import pl
    from optuna_rlnas.child._lightning import run_trainer

    pl.seed_everything(
        best.user_attrs.get("seed", config["study_seed"]), workers=True, verbose=False
    )
    net = ChildNet(
        architecture,
        in_channels=datamodule.in_channels,
        num_classes=datamodule.num_classes,
        image_size=datamodule.image_size,
    )
    module = ChildModule(net, training)
    accuracy = best.user_attrs.get("val_acc", best.value)
    which = f"{args.trial} trial" if isinstance(args.trial, str) else "trial"
    print(f"{which} #{best.number} (validation accuracy {accuracy:.4f}): {architecture}")
    print(
        f"retraining on train+validation ({len(datamodule.train_set)} {datamodule.name} images, "
        f"{training.epochs} epochs)"
    )
    trainer = make_trainer(training, limit_val_batches=0)
    start = time.perf_counter()
    run_trainer(trainer, "fit", module, train_dataloaders=datamodule.train_dataloader())
    elapsed = time.perf_counter() - start
    results = run_trainer(
        trainer, "test", module, dataloaders=datamodule.test_dataloader(), verbose=False
    )
    test_acc = float(results[0]["test_acc"])
    print(f"test accuracy {test_acc:.4f} on {len(datamodule.test_set)} test images")
    print(f"(training took {elapsed:.1f} s, {net.num_parameters} parameters)")
    if args.out is not None:
        _save_best(args.out, module.net, datamodule, best, training)
    return 0


def _chosen_trial(study: Any, choice: str | int, name: str) -> Any:
    """``rlnas best --trial``: Optuna's best trial, the reward model's recommendation (the child
    with the best posterior mean: on a noisy objective the best value is often a lucky
    evaluation), or the complete trial of that number."""
    if choice == "best":
        return study.best_trial
    if choice == "recommended":
        from optuna_rlnas import recommended_trial

        return recommended_trial(study)  # rebuilt from storage
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    chosen = [t for t in trials if t.number == choice]
    if not chosen:
        raise CLIError(f"study {name!r} has no complete trial #{choice}")
    return chosen[0]


def _save_best(folder: str, net: Any, datamodule: Any, best: Any, training: Any) -> None:
    """``rlnas best --out``: the files ``rlnas run`` saves (``optuna_rlnas.child._export``)."""
    from optuna_rlnas.child._export import save
    from optuna_rlnas.child._final import evaluate

    # Measured as a loaded model runs (eval mode, 32-bit), so the file reproduces it exactly.
    test_acc = evaluate(net, datamodule.test_dataloader())
    info = {
        "dataset": datamodule.name,
        "scale": datamodule.scale,
        "mean": list(datamodule.mean),
        "std": list(datamodule.std),
        "test_acc": test_acc,
        "n_test": len(datamodule.test_set),
        "search_trial": best.number,
        "epochs": training.epochs,
        "training": {k: v for k, v in vars(training).items() if k != "epochs"},
    }
    title = f"search trial {best.number}: test accuracy {test_acc:.4f}"
    save(folder, net, info=info, title=title)
    print(
        f"saved to {folder}/ (test accuracy {test_acc:.4f} as saved; load with "
        f"optuna_rlnas.child.load({folder!r}))"
    )
