"""The Flax NNX U-Net that classifies single HLS observations, its presets, metadata and I/O.

One model serves every sensor: inputs are the harmonized bands (HLS int16 reflectance), turned
into network inputs by :meth:`ModelMetadata.normalize` with per-sensor statistics stored next to
the weights. Logits have 10 channels; channel ``i`` is the class with raster code ``i + 1``.

A saved model is one directory holding ``weights.npz`` (plain arrays, read with
``allow_pickle=False`` so loading never executes code) and ``model.json`` (format version,
architecture, bands, classes, normalization, provenance)::

    net = build_model("small", bands=BANDS, seed=0)       # evaluation mode
    meta = ModelMetadata.for_model(net, BANDS, normalization)
    logits = net(meta.normalize(x_int16, "L30")[None])    # (1, H, W, 10)
    save_model("model/", net, meta); net, meta = load_model("model/")

Architectures are plug-ins (:mod:`~hlsmap.model.registry`: ``unet`` and ``dynamicworld``
built in, more through the ``hlsmap.architectures`` entry-point group); known third-party
models (``"dynamicworld"``) are fetched, converted and cached by :mod:`~hlsmap.model.zoo`.

Modules: :mod:`~hlsmap.model.unet` (architecture, presets, construction),
:mod:`~hlsmap.model.metadata` (the input contract), :mod:`~hlsmap.model.normalize`,
:mod:`~hlsmap.model.io`, :mod:`~hlsmap.model.classmap`, :mod:`~hlsmap.model.dynamicworld`.
"""

from __future__ import annotations

from hlsmap.model.io import METADATA_FILE, WEIGHTS_FILE, load_model, read_metadata, save_model
from hlsmap.model.metadata import (
    DEFAULT_SENSOR,
    FORMAT,
    FORMAT_VERSION,
    ModelMetadata,
    default_normalization,
)
from hlsmap.model.registry import (
    Architecture,
    get_architecture,
    list_architectures,
    register_architecture,
)
from hlsmap.model.unet import (
    BANDS,
    FILL,
    INDICES,
    PRESETS,
    ConvBlock,
    UNet,
    UNetConfig,
    build_model,
    count_params,
)
from hlsmap.model.zoo import KNOWN_MODELS, ensure_model

__all__ = [
    "BANDS",
    "KNOWN_MODELS",
    "Architecture",
    "ensure_model",
    "get_architecture",
    "list_architectures",
    "register_architecture",
    "DEFAULT_SENSOR",
    "FILL",
    "FORMAT",
    "FORMAT_VERSION",
    "INDICES",
    "METADATA_FILE",
    "PRESETS",
    "WEIGHTS_FILE",
    "ConvBlock",
    "ModelMetadata",
    "UNet",
    "UNetConfig",
    "build_model",
    "count_params",
    "default_normalization",
    "load_model",
    "read_metadata",
    "save_model",
]
