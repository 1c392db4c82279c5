"""The GPU path's options, each working on a CPU or refused with the reason."""

from __future__ import annotations

import optuna
import pytest
import torch

from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import make_objective
from optuna_rlnas.child._lightning import ChildModule

TINY = CNNSearchSpace(num_layers=2, filters=(8,), filter_sizes=(3,), strides=(1, 2))
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallbacks")


def _train(training: TrainingConfig) -> optuna.trial.FrozenTrial:
    objective = make_objective(DigitsDataModule(train_subset=64), space=TINY, training=training)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=1)
    return study.trials[0]


@pytest.mark.parametrize("options", [dict(channels_last=True), dict(precision="bf16-mixed")])
def test_gpu_options_train_on_a_cpu(options) -> None:
    trial = _train(TrainingConfig(epochs=1, **options))
    assert trial.state == optuna.trial.TrialState.COMPLETE and 0 <= trial.value <= 1


def test_channels_last_keeps_the_maps_channels_last() -> None:
    from optuna_rlnas.child import Architecture
    from optuna_rlnas.child import ChildNet
    from optuna_rlnas.child import LayerSpec

    net = ChildNet(Architecture((LayerSpec(8, 3, 3),)), in_channels=1, num_classes=10)
    module = ChildModule(net, TrainingConfig(channels_last=True))
    weight = module.net.layers[0][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert module(torch.randn(4, 1, 8, 8)).shape == (4, 10)


@pytest.mark.slow
def test_compile_trains_on_a_cpu() -> None:
    trial = _train(TrainingConfig(epochs=1, compile=True))
    assert trial.state == optuna.trial.TrialState.COMPLETE and 0 <= trial.value <= 1


def test_compiled_module_keeps_each_weight_once_in_its_state_dict() -> None:
    from optuna_rlnas.child import Architecture
    from optuna_rlnas.child import ChildNet
    from optuna_rlnas.child import LayerSpec

    net = ChildNet(Architecture((LayerSpec(8, 3, 3),)), in_channels=1, num_classes=10)
    module = ChildModule(net, TrainingConfig(compile=True))
    assert all(key.startswith("net.") for key in module.state_dict())


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(device_index=1), "device_index=1 needs a CUDA GPU, but torch.cuda.is_available()"),
        (dict(accelerator="cuda"), "accelerator='cuda' needs a CUDA GPU"),
        (dict(precision="16-mixed"), "precision '16-mixed' needs CUDA: fp16 autocast does not"),
    ],
)
def test_gpu_only_options_say_why_not_on_a_cpu(options, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainingConfig(**options).resolved_precision()  # resolves the device first


def test_data_on_a_missing_gpu_is_refused() -> None:
    dm = DigitsDataModule(train_subset=64)
    dm.setup()
    with pytest.raises(ValueError, match="device 'cuda' needs a CUDA GPU"):
        dm.to_device("cuda")
    assert dm.to_device("cpu").device == torch.device("cpu")


def test_training_config_validates_its_options() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainingConfig(precision="8-bit")
    with pytest.raises(ValueError, match="device_index=0 picks a GPU, but accelerator is 'cpu'"):
        TrainingConfig(accelerator="cpu", device_index=0)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), but got 1.0"):
        TrainingConfig(label_smoothing=1.0)
