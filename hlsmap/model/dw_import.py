"""Convert Dynamic World's published SavedModel into an hlsmap model directory.

NumPy only: the tensor bundle and the object graph are read by
:mod:`hlsmap.model.savedmodel` (no TensorFlow, no protobuf package, no pickle). The result is
an ordinary hlsmap model (``weights.npz`` + ``model.json``) whose metadata carries the input
contract (nine bands, 10 m, log-sigmoid normalization, nine classes on hlsmap's codes) and the
provenance: source repository and commit, the hashes of the files converted, licence, NOTICE
text and citation. LICENSE and NOTICE are copied beside the weights with a note saying the
files were converted (Apache-2.0 section 4).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from hlsmap.errors import ModelError

# Dynamic World's classes in logit order -> hlsmap's class codes (one to one; no clouds).
DW_TO_HLSMAP: dict[str, int] = {
    "water": 1,
    "trees": 2,
    "grass": 3,
    "flooded_vegetation": 4,
    "crops": 5,
    "shrub_and_scrub": 6,
    "built": 7,
    "bare": 8,
    "snow_and_ice": 9,
}

CONVERTED_NOTE = """\
These weights were converted by hlsmap {version} on {date} from Dynamic World's published
forward model ({repository}, commit {commit}, folder {folder}). The converted files
(weights.npz, model.json) hold the same float32 values in another layout; the network is
re-implemented in Flax NNX (hlsmap.model.dynamicworld). LICENSE and NOTICE are the original
repository's, and apply to these converted weights.
"""


def import_dynamicworld(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    legal: str | os.PathLike[str] | None = None,
) -> Path:
    """Convert the SavedModel folder ``source`` (``model/forward`` of google/dynamicworld).

    Args:
        source: the SavedModel folder (``saved_model.pb`` + ``variables/``).
        out: the model directory to write (replaced atomically if it exists).
        legal: the folder holding the repository's LICENSE and NOTICE (default: looked for
            beside ``source`` and up to two folders above).

    Returns:
        The model directory.

    Raises:
        ModelError: a file is missing, corrupt or not the known release.
    """
    from hlsmap import __version__
    from hlsmap.classes import CLASSES
    from hlsmap.model.architectures import DynamicWorldConfig
    from hlsmap.model.dw_convert import convert_savedmodel
    from hlsmap.model.dynamicworld import (
        DW_ASSETS,
        DW_BANDS,
        DW_CLASSES,
        DW_NORM,
        DW_RESOLUTION,
        DynamicWorldNet,
    )
    from hlsmap.model.io import save_model
    from hlsmap.model.metadata import ModelMetadata
    from hlsmap.model.savedmodel import check_release
    from hlsmap.model.unet import assign_state, flat_state_shapes
    from hlsmap.model.zoo import DYNAMICWORLD, _find_legal

    src = Path(source)
    if not (src / "saved_model.pb").is_file():
        raise ModelError(
            f"{src} is not a TensorFlow SavedModel folder (no saved_model.pb): point at the"
            f" {DYNAMICWORLD.savedmodel} folder of {DYNAMICWORLD.repository}."
        )
    hashes = check_release(src)
    legal_dir = Path(legal) if legal is not None else _find_legal(DYNAMICWORLD, src)
    texts = {}
    for name in DYNAMICWORLD.legal:
        f = legal_dir / name
        if not f.is_file():
            raise ModelError(f"{f} is missing: {name} must travel with the converted weights.")
        texts[name] = f.read_bytes()
    arrays = convert_savedmodel(src)

    from flax import nnx

    net = nnx.eval_shape(lambda: DynamicWorldNet(rngs=nnx.Rngs(0)))
    expected = flat_state_shapes(net)
    if set(arrays) != set(expected) or any(arrays[k].shape != s for k, s in expected.items()):
        raise ModelError(
            f"{src}: the converted arrays do not fit Dynamic World's network (expected"
            f" {len(expected)} arrays): the SavedModel is not the known release."
        )
    assign_state(net, arrays)
    net.eval()
    by_code = {c.code: c for c in CLASSES}
    classes = [
        {
            "code": DW_TO_HLSMAP[name],
            "name": by_code[DW_TO_HLSMAP[name]].name,
            "color": by_code[DW_TO_HLSMAP[name]].color,
            "source_name": name,
        }
        for name in DW_CLASSES
    ]
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    provenance = {
        "converted_from": {
            "repository": DYNAMICWORLD.repository,
            "commit": DYNAMICWORLD.commit,
            "folder": DYNAMICWORLD.savedmodel,
            "sha256": hashes,
            "converter": f"hlsmap {__version__} (hlsmap.model.dw_import)",
            "date": date,
        },
        "license": DYNAMICWORLD.license,
        "notice": texts["NOTICE"].decode("utf-8", "replace"),
        "citation": DYNAMICWORLD.citation,
        "trained_on": "Sentinel-2 L1C top-of-atmosphere reflectance at 10 m (Brown et al. 2022)",
    }
    meta = ModelMetadata(
        bands=tuple(DW_BANDS),
        normalization={"*": {"a": [a for a, _ in DW_NORM], "b": [b for _, b in DW_NORM]}},
        config=DynamicWorldConfig(),
        classes=classes,
        provenance=provenance,
        architecture="dynamicworld",
        resolution=float(DW_RESOLUTION),
        normalization_kind="log-sigmoid",
        sensor_bands={"S30": list(DW_ASSETS), "S2L2A": list(DW_ASSETS)},
    )
    note = CONVERTED_NOTE.format(
        version=__version__,
        date=date,
        repository=DYNAMICWORLD.repository,
        commit=DYNAMICWORLD.commit,
        folder=DYNAMICWORLD.savedmodel,
    )
    return save_model(out, net, meta, extra_files={**texts, "CONVERTED.txt": note.encode()})
