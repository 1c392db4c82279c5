"""The saved model: files, load, the exported program, artifacts, and a fresh process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pytest
import torch
from _reload import reload_test_acc

from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import evaluate
from optuna_rlnas.child import load
from optuna_rlnas.child import save
from optuna_rlnas.child._export import FILES
from optuna_rlnas.child._export import upload
from optuna_rlnas.child._final import train_child

ARCH = Architecture(
    (LayerSpec(8, 3, 3), LayerSpec(12, 3, 3, 2, 2, inputs=(0,)), LayerSpec(8, 1, 3, inputs=(0, 1)))
)


def _trained(tmp_path: Path) -> tuple[Path, float]:
    dm = DigitsDataModule(train_subset=256)
    dm.setup()
    training = TrainingConfig(epochs=1, channels_last=True)
    net, _ = train_child(ARCH, dm, training, seed=0)
    test_acc = evaluate(net, dm.test_dataloader())
    folder = save(tmp_path / "model", net, info={"test_acc": test_acc}, title="tiny")
    return folder, test_acc


def test_saved_model_reloads_in_a_fresh_process_with_its_test_accuracy(tmp_path: Path) -> None:
    folder, test_acc = _trained(tmp_path)
    assert sorted(os.listdir(folder)) == sorted(FILES)
    assert json.loads((folder / "model.json").read_text())["test_acc"] == test_acc
    assert reload_test_acc(folder, train_subset=256) == test_acc  # exactly, not approximately


def test_load_gives_the_same_outputs_and_the_exported_program_too(tmp_path: Path) -> None:
    net = ChildNet(ARCH, in_channels=1, num_classes=10, image_size=(8, 8)).eval()
    folder = save(tmp_path, net)
    x = torch.randn(5, 1, 8, 8)
    with torch.inference_mode():
        expected = net(x)
        assert torch.equal(load(folder)(x), expected)
        program = torch.export.load(folder / "model.pt2").module()
        assert torch.allclose(program(x), expected, atol=1e-6)
        assert program(torch.randn(17, 1, 8, 8)).shape == (17, 10)  # any batch size
    svg = (folder / "architecture.svg").read_text()
    assert svg.startswith("<svg") and "L2 8@1x3" in svg


def test_load_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing model.pt, architecture.json, model.json"):
        load(tmp_path)


def test_upload_attaches_every_file_to_the_running_trial(tmp_path: Path) -> None:
    from optuna.artifacts import get_all_artifact_meta

    net = ChildNet(ARCH, in_channels=1, num_classes=10, image_size=(8, 8))
    folder = save(tmp_path / "model", net, export=False)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'a.db'}")
    trial = study.ask()
    ids = upload(folder, trial, tmp_path / "store")
    study.tell(trial, 0.5)
    metas = get_all_artifact_meta(study.trials[0], storage=study._storage)
    assert {m.filename for m in metas} == set(ids) == set(FILES) - {"model.pt2"}
    svg = next(m for m in metas if m.filename == "architecture.svg")
    assert svg.mimetype == "image/svg+xml"  # optuna-dashboard previews image artifacts
    assert all((tmp_path / "store" / m.artifact_id).is_file() for m in metas)
