"""Model architectures as plug-ins: a saved model's ``model.json`` names its architecture.

An :class:`Architecture` turns the architecture section of ``model.json`` into a config, builds
the Flax NNX network for it, and tells the pipeline what the network needs around it: how many
pixels of context a prediction depends on (the tiling halo) and which window sides it accepts.
The model's *input contract* (bands, grid resolution, normalization, classes) lives in
:class:`~hlsmap.model.metadata.ModelMetadata`, beside the architecture.

Built-ins are ``unet`` (hlsmap's own) and ``dynamicworld`` (Dynamic World's published network,
ported exactly). Third-party packages add more through the entry-point group
``hlsmap.architectures``; an entry point names an :class:`Architecture` instance or a function
returning one::

    [project.entry-points."hlsmap.architectures"]
    prithvi = "my_package.hlsmap_plugin:PRITHVI"

or, in code, :func:`register_architecture`. This module imports no JAX: architectures import
their networks only when one is built.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from hlsmap.errors import ModelError

ENTRY_POINT_GROUP = "hlsmap.architectures"


@runtime_checkable
class Architecture(Protocol):
    """What hlsmap needs to know about a network family.

    Attributes:
        name: the name ``model.json`` gives in ``architecture.name``.
        title: one line for ``hlsmap models``.
    """

    name: str
    title: str

    def config_from_dict(self, d: dict[str, Any]) -> Any:
        """The config object of ``model.json``'s architecture section (without ``name``)."""
        ...

    def config_to_dict(self, config: Any) -> dict[str, Any]:
        """The JSON-ready architecture section (without ``name``)."""
        ...

    def build(self, config: Any, in_channels: int) -> Any:
        """An *abstract* network (``nnx.eval_shape``) for ``config``, ready for saved weights."""
        ...

    def receptive_radius(self, config: Any) -> int:
        """Pixels of context beyond which an input cannot change an output (the least halo)."""
        ...

    def alignment(self, config: Any) -> int:
        """Window offsets must be multiples of this for tiled output to equal whole-image output."""
        ...


_REGISTRY: dict[str, Architecture] = {}
_PLUGINS_LOADED = False


def _load_builtins() -> None:
    if "unet" in _REGISTRY:
        return
    from hlsmap.model.architectures import DYNAMICWORLD, UNET

    for arch in (UNET, DYNAMICWORLD):
        _REGISTRY.setdefault(arch.name, arch)


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True  # first, so a plugin that uses the registry cannot loop
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Architecture):
                obj = obj()
            register_architecture(obj)
        except Exception as exc:  # a plugin must never break hlsmap
            warnings.warn(
                f"hlsmap: skipped architecture plugin {ep.name!r} ({ep.value}) from entry-point"
                f" group {ENTRY_POINT_GROUP!r}: {type(exc).__name__}: {exc}. Fix or uninstall"
                " the package that provides it.",
                RuntimeWarning,
                stacklevel=3,
            )


def register_architecture(arch: Any, overwrite: bool = False) -> Architecture:
    """Add an architecture to the registry (``overwrite`` replaces one of the same name)."""
    if not isinstance(arch, Architecture):
        raise ModelError(
            f"{arch!r} is not an architecture: it needs name, title, config_from_dict(),"
            " config_to_dict(), build(), receptive_radius() and alignment()."
        )
    _load_builtins()
    if arch.name in _REGISTRY and not overwrite and _REGISTRY[arch.name] is not arch:
        raise ModelError(
            f"an architecture named {arch.name!r} is already registered: pass overwrite=True"
            " to replace it."
        )
    _REGISTRY[arch.name] = arch
    return arch


def list_architectures() -> list[str]:
    """Names of every registered architecture (built-ins and plugins)."""
    _load_builtins()
    _load_plugins()
    return sorted(_REGISTRY)


def get_architecture(name: str) -> Architecture:
    """The architecture registered as ``name``.

    Raises:
        ModelError: no such architecture; the message names the known ones and how to add one.
    """
    _load_builtins()
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise ModelError(
            f"unknown model architecture {name!r}: known are {', '.join(sorted(_REGISTRY))}."
            " Register one with hlsmap.model.register_architecture() or the entry-point group"
            f" {ENTRY_POINT_GROUP!r}, or install the package that provides it."
        )
    return _REGISTRY[name]
