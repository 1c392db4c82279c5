"""How a trial records its child: short user attributes per layer, the whole as a system
attribute, and studies of earlier versions (``architecture_json``) still read."""

from __future__ import annotations

import optuna

from optuna_rlnas.child import ARCHITECTURE_KEY
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.child import record_architecture
from optuna_rlnas.child import suggest_architecture
from optuna_rlnas.child import trial_architecture

SKIPPY = Architecture(
    (
        LayerSpec(64, 7, 7),
        LayerSpec(64, 7, 7, inputs=(0,)),
        LayerSpec(64, 7, 7, inputs=(0, 1)),
        LayerSpec(64, 7, 7, inputs=(0, 1, 2)),
        LayerSpec(64, 7, 7, 3, 3, activation="leaky_relu", inputs=(0, 1, 2, 3)),
    )
)


def test_recorded_architecture_reads_back_from_storage(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'attrs.db'}"
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    arch = suggest_architecture(trial, CNNSearchSpace())
    record_architecture(trial, arch)
    study.tell(trial, 0.5)
    (stored,) = optuna.load_study(study_name=study.study_name, storage=url).trials
    assert trial_architecture(stored) == arch
    assert stored.system_attrs[ARCHITECTURE_KEY] == arch.to_dict()
    assert "architecture_json" not in stored.user_attrs


def test_user_attributes_fit_on_a_line_even_for_a_skip_rich_child() -> None:
    study = optuna.create_study()
    trial = study.ask()
    record_architecture(trial, SKIPPY)
    study.tell(trial, 0.5)
    attrs = study.trials[0].user_attrs
    assert attrs["layer_4"] == "64@7x7/s3x3 leaky_relu<0+1+2+3"
    assert max(len(f"{key}: {value}") for key, value in attrs.items()) <= 60, attrs


def test_fixed_trial_keeps_the_architecture_itself() -> None:
    trial = optuna.trial.FixedTrial({})
    record_architecture(trial, SKIPPY)
    assert trial.system_attrs[ARCHITECTURE_KEY] == SKIPPY.to_dict()
    assert trial.user_attrs["depth"] == 5


def test_studies_of_earlier_versions_are_read_from_architecture_json() -> None:
    old = optuna.trial.create_trial(value=0.5, user_attrs={"architecture_json": SKIPPY.to_json()})
    assert trial_architecture(old) == SKIPPY


def test_no_architecture_or_junk_reads_as_none() -> None:
    assert trial_architecture(optuna.trial.create_trial(value=0.5)) is None
    junk = optuna.trial.create_trial(
        value=0.5,
        user_attrs={"architecture_json": "{not json"},
        system_attrs={ARCHITECTURE_KEY: {"layers": [{"filters": -1}]}},
    )
    assert trial_architecture(junk) is None
