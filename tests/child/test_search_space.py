from __future__ import annotations

import optuna
import pytest

from optuna_rlnas import parse_param_name
from optuna_rlnas import skip_param
from optuna_rlnas.child import NUM_LAYERS_PARAM
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DepthCurriculum
from optuna_rlnas.child import suggest_architecture


class _RecordingSampler(optuna.samplers.RandomSampler):
    """A real random sampler that also records the order of the decisions it is asked for."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed=seed)
        self.names: list[str] = []

    def sample_independent(self, study, trial, param_name, param_distribution):
        self.names.append(param_name)
        return super().sample_independent(study, trial, param_name, param_distribution)


def _study(sampler=None) -> optuna.Study:
    return optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=0))


def test_every_decision_is_named_by_the_convention() -> None:
    study = _study()
    trial = study.ask()
    arch = suggest_architecture(trial, CNNSearchSpace(num_layers=4, activations=("relu", "tanh")))
    for name in trial.params:
        parsed = parse_param_name(name)
        assert parsed is not None, name
        assert 0 <= parsed.layer < arch.depth
    skips = [n for n in trial.params if parse_param_name(n).skip_source is not None]
    assert sorted(skips) == sorted(skip_param(i, j) for i in range(4) for j in range(i))
    assert all(trial.distributions[n].choices == (False, True) for n in skips)


def test_architecture_matches_the_params() -> None:
    study = _study()
    trial = study.ask()
    arch = suggest_architecture(trial, CNNSearchSpace(num_layers=5))
    p = trial.params
    for i, layer in enumerate(arch.layers):
        assert layer.filters == p[f"layer_{i}/filters"]
        assert layer.filter_height == p[f"layer_{i}/filter_height"]
        assert layer.stride_width == p[f"layer_{i}/stride_width"]
        assert layer.inputs == tuple(j for j in range(i) if p[f"layer_{i}/skip_{j}"])
    assert Architecture.from_json(arch.to_json()) == arch


def test_anchor_order_each_layer_starts_with_its_skips_after_its_sources_decisions() -> None:
    sampler = _RecordingSampler(seed=1)
    study = _study(sampler)
    suggest_architecture(study.ask(), CNNSearchSpace(num_layers=4))
    layers = [parse_param_name(n) for n in sampler.names]
    for k, parsed in enumerate(layers):
        if parsed.skip_source is not None:
            earlier = layers[:k]
            # The source layer has an anchor (a decision) before the skip is asked for ...
            assert any(p.layer == parsed.skip_source for p in earlier)
            # ... and the layer's own anchor point comes before its other decisions.
            assert all(p.skip_source is not None for p in earlier if p.layer == parsed.layer)


def test_single_choices_are_fixed_not_suggested() -> None:
    study = _study()
    trial = study.ask()
    arch = suggest_architecture(trial, CNNSearchSpace(num_layers=2, strides=(1,)))
    assert not any("stride" in n or "activation" in n for n in trial.params)
    assert all(layer.stride_height == layer.stride_width == 1 for layer in arch.layers)
    assert all(layer.activation == "relu" for layer in arch.layers)


def test_fixed_trial_builds_the_given_architecture() -> None:
    params = {
        "layer_0/filter_height": 3,
        "layer_0/filter_width": 5,
        "layer_0/filters": 24,
        "layer_1/skip_0": False,
        "layer_1/filter_height": 1,
        "layer_1/filter_width": 7,
        "layer_1/filters": 64,
    }
    space = CNNSearchSpace(num_layers=2, strides=(1,))
    arch = suggest_architecture(optuna.trial.FixedTrial(params), space)
    assert str(arch) == "L0 24@3x5/s1x1 relu<img | L1 64@1x7/s1x1 relu<img"


def test_depth_chosen_by_the_controller() -> None:
    study = _study()
    depths = set()
    for _ in range(12):
        trial = study.ask()
        arch = suggest_architecture(trial, CNNSearchSpace(num_layers=(1, 2, 3)))
        assert arch.depth == trial.params[NUM_LAYERS_PARAM]
        depths.add(arch.depth)
        study.tell(trial, 0.0)
    assert depths == {1, 2, 3}


def test_curriculum_sets_the_depth_by_trial_number() -> None:
    space = CNNSearchSpace(num_layers=6, curriculum=DepthCurriculum(start=2, step=2, every=3))
    study = _study()
    depths = []
    for _ in range(10):
        trial = study.ask()
        depths.append(suggest_architecture(trial, space).depth)
        assert NUM_LAYERS_PARAM not in trial.params  # the curriculum decides, not the controller
        study.tell(trial, 0.0)
    assert depths == [2, 2, 2, 4, 4, 4, 6, 6, 6, 6]  # capped at num_layers, the final depth
    assert DepthCurriculum().depth(1600) == 8  # the paper: 6 layers, +2 every 1,600


def test_curriculum_refuses_a_depth_decision() -> None:
    # A chosen depth that the curriculum then clips would reward a depth that was not built.
    with pytest.raises(ValueError, match="a curriculum sets the depth, so num_layers must be one"):
        CNNSearchSpace(num_layers=(2, 4, 6), curriculum=DepthCurriculum(start=2))


def test_curriculum_scaled_to_a_budget_reaches_the_final_depth() -> None:
    curriculum = DepthCurriculum.scaled(n_trials=10, start=2, final=6)
    assert [curriculum.depth(n) for n in (0, 3, 4, 7, 8, 9)] == [2, 2, 4, 4, 6, 6]
    assert DepthCurriculum.scaled(n_trials=5, start=6, final=6).depth(4) == 6
    with pytest.raises(ValueError, match="final must be >= start=6, but got 4."):
        DepthCurriculum.scaled(n_trials=5, start=6, final=4)


def test_without_skip_decisions_layers_form_a_chain() -> None:
    trial = _study().ask()
    arch = suggest_architecture(trial, CNNSearchSpace(num_layers=3, skip_connections=False))
    assert [layer.inputs for layer in arch.layers] == [(), (0,), (1,)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(filters=()), "filters must hold at least one choice"),
        (dict(filter_sizes=(3, 4)), "filter_sizes must hold odd positive integers, but got 4."),
        (dict(strides=(1, 1)), "strides must not repeat a choice"),
        (dict(activations=("relu", "swish")), "activations must be among"),
        (dict(num_layers=0), "num_layers must hold positive integers, but got 0."),
        (dict(num_layers=True), "num_layers must hold positive integers, but got True."),
    ],
)
def test_search_space_validation(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CNNSearchSpace(**kwargs)


def test_skip_decisions_go_through_the_attention_path() -> None:
    from optuna_rlnas import RLNASSampler

    sampler = RLNASSampler(seed=0)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    space = CNNSearchSpace(num_layers=4)
    study.optimize(lambda t: suggest_architecture(t, space).depth * 0.1, n_trials=3)
    for trial in study.trials:
        record = trial.system_attrs["rlnas:trial"]
        decisions, _ = sampler._replay(trial)  # the controller's decisions, as it scores them
        by_name = dict(zip(record["decisions"], decisions))
        for name in record["decisions"]:
            parsed = parse_param_name(name)
            decision = by_name[name]
            if parsed.skip_source is None:
                assert decision.skip_source is None
                continue
            # The attention head gets the anchor of the source layer: its last decision's step.
            steps = [
                k
                for k, n in enumerate(record["decisions"])
                if parse_param_name(n).layer == parsed.skip_source
            ]
            assert decision.skip_source == max(steps)
