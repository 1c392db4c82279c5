from __future__ import annotations

import json

import pytest

from optuna_rlnas.child import Architecture
from optuna_rlnas.child import LayerSpec


def _arch() -> Architecture:
    return Architecture(
        (
            LayerSpec(24, 3, 3),
            LayerSpec(36, 5, 1, 2, 3, "tanh", inputs=(0,)),
            LayerSpec(64, 7, 7, 1, 2, "gelu", inputs=()),
            LayerSpec(48, 1, 3, 3, 1, "elu", inputs=(0, 1, 2)),
        )
    )


def test_json_round_trip() -> None:
    arch = _arch()
    text = arch.to_json()
    assert json.loads(text)["layers"][1]["stride_width"] == 3
    assert Architecture.from_json(text) == arch
    assert Architecture.from_dict(arch.to_dict()) == arch


def test_str_is_compact_and_complete() -> None:
    assert str(_arch()) == (
        "L0 24@3x3/s1x1 relu<img | L1 36@5x1/s2x3 tanh<0 | L2 64@7x7/s1x2 gelu<img"
        " | L3 48@1x3/s3x1 elu<0+1+2"
    )


def test_outputs_are_the_layers_that_feed_nothing() -> None:
    assert _arch().outputs == (3,)
    chainless = Architecture((LayerSpec(24, 3, 3), LayerSpec(24, 3, 3)))
    assert chainless.outputs == (0, 1)


def test_feature_map_sizes_pad_to_the_largest_input() -> None:
    # L1 is 8x8 -> ceil(8/2) x ceil(8/3) = 4x3; L3 sees max(8,4,8) x max(8,3,4) = 8x8.
    assert _arch().feature_map_sizes(8, 8) == [(8, 8), (4, 3), (8, 4), (3, 8)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(filters=0), "filters must be a positive integer, but got 0."),
        (dict(filter_height=4), "filter_height must be an odd positive integer, but got 4."),
        (dict(stride_width=0), "stride_width must be a positive integer, but got 0."),
        (dict(activation="swish"), "activation must be one of"),
        (dict(inputs=(1, 0)), "inputs must be sorted and without repeats"),
    ],
)
def test_layer_validation_states_the_invariant(kwargs, message) -> None:
    fields = dict(filters=24, filter_height=3, filter_width=3) | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LayerSpec(**fields)


def test_inputs_must_come_from_earlier_layers() -> None:
    with pytest.raises(ValueError, match=r"layer 1 can only take inputs from earlier layers"):
        Architecture((LayerSpec(24, 3, 3), LayerSpec(24, 3, 3, inputs=(1,))))


def test_from_json_rejects_bad_text() -> None:
    with pytest.raises(ValueError, match="must be JSON"):
        Architecture.from_json("{nope")
    with pytest.raises(ValueError, match="needs a 'layers' list"):
        Architecture.from_json("{}")
    with pytest.raises(ValueError, match=r"layers\[0\] is not a valid layer"):
        Architecture.from_json('{"layers": [{"filters": 3}]}')


def test_child_package_imports_lightning_lazily_with_an_install_hint() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import optuna_rlnas.child as child\n"
        "assert 'lightning' not in sys.modules, 'lightning imported eagerly'\n"
        "sys.modules['lightning'] = None\n"
        "sys.modules['lightning.pytorch'] = None\n"
        "try:\n"
        "    child.make_objective\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'pip install "optuna-rlnas[lightning]"' in result.stdout
