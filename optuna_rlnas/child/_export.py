"""The search's product handed over: a trained child saved to a folder, loaded back, uploaded.

A saved model is a folder of plain files:

* ``model.pt``: the weights, ``ChildNet.state_dict()`` (``torch.save``);
* ``architecture.json``: the :class:`Architecture` (``Architecture.to_dict``);
* ``model.json``: what ``load`` needs besides (input channels, classes, image size) and what a
  user needs to feed it (the per-channel ``mean`` and ``std`` that normalise images scaled to
  [0, 1]), with the accuracies and the training recipe;
* ``model.pt2``: the same network as a ``torch.export`` program (batch size dynamic), which
  runs without this package: ``torch.export.load("model.pt2").module()(images)``;
* ``architecture.svg``: the diagram.

``load(folder)`` rebuilds the :class:`ChildNet` from the first three, in eval mode on the CPU.
"""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from typing import Any

import optuna
import torch

from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._diagram import architecture_svg
from optuna_rlnas.child._network import ChildNet

FORMAT = "optuna-rlnas-child/1"
FILES = ("model.pt", "architecture.json", "model.json", "model.pt2", "architecture.svg")
_MIMETYPES = {".pt": "application/octet-stream", ".pt2": "application/zip"}


def save(
    folder: str | os.PathLike[str],
    net: ChildNet,
    *,
    info: dict[str, Any] | None = None,
    title: str = "",
    export: bool = True,
) -> Path:
    """Write ``net`` into ``folder`` (created if needed) as the files listed above.

    ``info`` goes into ``model.json`` (e.g. ``test_acc``, ``dataset``, ``mean``, ``std``);
    ``export=False`` skips ``model.pt2``. Returns the folder.
    """
    if not isinstance(net, ChildNet):
        raise TypeError(f"net must be a ChildNet, but got {type(net).__name__}.")
    image_size = net.image_size
    if image_size is None:
        raise ValueError(
            "net must know its image_size (ChildNet(..., image_size=...)) to be saved."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = net.to("cpu").eval()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}  # channels_last or not
    torch.save(state, folder / "model.pt")
    (folder / "architecture.json").write_text(json.dumps(net.architecture.to_dict(), indent=1))
    meta = {
        "format": FORMAT,
        "in_channels": net.in_channels,
        "num_classes": net.classifier.out_features,
        "image_size": list(image_size),
        "n_params": net.num_parameters,
        "architecture": str(net.architecture),
        **(info or {}),
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    (folder / "architecture.svg").write_text(architecture_svg(net.architecture, title=title))
    if export:
        example = torch.zeros(2, net.in_channels, *image_size)
        batch = torch.export.Dim("batch")
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, folder / "model.pt2")
    return folder


def load(folder: str | os.PathLike[str]) -> ChildNet:
    """The :class:`ChildNet` saved in ``folder`` by :func:`save`, on the CPU, in eval mode.

    It expects images normalised as ``model.json`` says: ``(image / scale - mean) / std``.

    Example:
        >>> import tempfile, torch
        >>> from optuna_rlnas.child import Architecture, ChildNet, LayerSpec, load
        >>> from optuna_rlnas.child._export import save
        >>> net = ChildNet(Architecture((LayerSpec(8, 3, 3),)), in_channels=1, num_classes=10,
        ...                image_size=(8, 8))
        >>> folder = save(tempfile.mkdtemp(), net, export=False)
        >>> x = torch.randn(3, 1, 8, 8)
        >>> torch.equal(load(folder)(x), net.eval()(x))
        True
    """
    folder = Path(folder)
    missing = [name for name in FILES[:3] if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} holds no saved child: missing {', '.join(missing)} (written by "
            "optuna_rlnas.child.save, rlnas run or rlnas best --out)."
        )
    meta = json.loads((folder / "model.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"model.json must have format {FORMAT!r}, but got {meta.get('format')!r}.")
    architecture = Architecture.from_dict(json.loads((folder / "architecture.json").read_text()))
    net = ChildNet(
        architecture,
        in_channels=meta["in_channels"],
        num_classes=meta["num_classes"],
        image_size=tuple(meta["image_size"]),
    )
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


def upload(
    folder: str | os.PathLike[str],
    trial: optuna.trial.Trial,
    artifact_store_dir: str | os.PathLike[str],
) -> dict[str, str]:
    """Upload every file of a saved model to an artifact store, attached to a running ``trial``.

    The store is a ``FileSystemArtifactStore`` in ``artifact_store_dir`` (created if needed);
    optuna-dashboard lists the files on the trial's page when it serves the same store
    (``rlnas dashboard`` does). The trial must still be running: Optuna refuses to change a
    finished trial. Returns ``{file name: artifact id}``.
    """
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.artifacts import upload_artifact

    os.makedirs(artifact_store_dir, exist_ok=True)
    store = FileSystemArtifactStore(str(artifact_store_dir))
    ids = {}
    for name in FILES:
        path = Path(folder) / name
        if path.is_file():
            ids[name] = upload_artifact(
                artifact_store=store,
                file_path=str(path),
                study_or_trial=trial,
                mimetype=_MIMETYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0],
            )
    return ids
