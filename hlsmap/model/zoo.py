"""Known third-party models: fetched (pinned URL + sha256), converted once, cached.

``--model dynamicworld`` (or ``load_model("dynamicworld")``) resolves to a converted copy in
the user's cache. When it is missing, hlsmap downloads the published files from the model's
public repository at the pinned commit, checks their sha256, converts them with the model's
importer (NumPy only, no TensorFlow) and caches the result with its LICENSE and NOTICE. The
repository commits no third-party weights.

- cache: ``$HLSMAP_CACHE_DIR`` or the platform's user cache (``~/.cache/hlsmap`` on Linux),
  ``models/<name>-<commit>/`` (converted) and ``downloads/<name>-<commit>/`` (as published);
- mirror: ``$HLSMAP_<NAME>_URL`` (e.g. ``HLSMAP_DYNAMICWORLD_URL``) or ``url=`` replaces the
  base URL; the file paths below it are the repository's;
- offline: import a local copy with ``hlsmap models fetch dynamicworld --from DIR``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hlsmap.errors import ModelError, RemoteError

CACHE_ENV = "HLSMAP_CACHE_DIR"


@dataclass(frozen=True)
class KnownModel:
    """A published model hlsmap knows how to fetch and convert.

    Attributes:
        name: the name users pass as ``--model``.
        title: one line for ``hlsmap models``.
        architecture: the registry name of its architecture.
        repository: the public source repository.
        commit: the pinned commit of the files.
        base_url: raw-file URL of the repository at ``commit`` (files are paths below it).
        weights: repository path -> sha256 of every file the importer needs (checked).
        legal: repository paths of the LICENSE and NOTICE that travel with converted weights
            (recorded by hash, not required to match one: their text is the licensor's).
        savedmodel: repository folder holding the model files (what ``--from`` points at).
        importer: ``"module:function"``, ``(source_dir, out_dir, legal_dir) -> Path``.
        license: SPDX licence of the weights.
        citation: how to cite the model.
        contract: a short description of the input contract (for ``hlsmap models``).
    """

    name: str
    title: str
    architecture: str
    repository: str
    commit: str
    base_url: str
    weights: dict[str, str]
    legal: tuple[str, ...]
    savedmodel: str
    importer: str
    license: str
    citation: str
    contract: dict[str, Any] = field(default_factory=dict)

    @property
    def url_env(self) -> str:
        return f"HLSMAP_{self.name.upper()}_URL"


_DW_COMMIT = "0dd288fae5fb5291d988e5ea3c12eb91df481ec5"
DYNAMICWORLD = KnownModel(
    name="dynamicworld",
    title="Dynamic World v1 forward model (Google / World Resources Institute)",
    architecture="dynamicworld",
    repository="https://github.com/google/dynamicworld",
    commit=_DW_COMMIT,
    base_url=f"https://raw.githubusercontent.com/google/dynamicworld/{_DW_COMMIT}/",
    weights={
        "model/forward/saved_model.pb": (
            "e47c4eafa62656b688893a4d86f67f0ad9e08baaf5b5b1ce2f320208b08d4b18"
        ),
        "model/forward/variables/variables.data-00000-of-00001": (
            "c4a38299f2c0a741682cbe48810d55afdc832ff451e3d3708082751fe655fcb1"
        ),
        "model/forward/variables/variables.index": (
            "f27000c6a3d7dcd3e76e333331b108697712c734d5d5ef11b3f34571027c8436"
        ),
    },
    legal=("LICENSE", "NOTICE"),
    savedmodel="model/forward",
    importer="hlsmap.model.dw_import:import_dynamicworld",
    license="Apache-2.0",
    citation=(
        "Brown, C.F., Brumby, S.P., Guzder-Williams, B. et al. Dynamic World, Near real-time"
        " global 10 m land use land cover mapping. Sci Data 9, 251 (2022)."
        " https://doi.org/10.1038/s41597-022-01307-4"
    ),
    contract={
        "bands": "B02 B03 B04 B05 B06 B07 B08 B11 B12 (HLS S30, Sentinel-2 L2A; not L30)",
        "resolution": "10 m",
        "normalization": "log-sigmoid of DN (reflectance x 10,000)",
        "classes": "9: water trees grass flooded_vegetation crops shrub_and_scrub built bare"
        " snow_and_ice (no cloud class: clouds from Fmask)",
    },
)

KNOWN_MODELS: dict[str, KnownModel] = {DYNAMICWORLD.name: DYNAMICWORLD}
"""Known models by ``--model`` name."""


def get_known(name: str) -> KnownModel:
    """The known model ``name``; unknown names are a :class:`ModelError`."""
    if name not in KNOWN_MODELS:
        raise ModelError(
            f"unknown model {name!r}: known models are {', '.join(sorted(KNOWN_MODELS))};"
            " or pass the path of a saved model directory."
        )
    return KNOWN_MODELS[name]


def cache_dir() -> Path:
    """hlsmap's cache: ``$HLSMAP_CACHE_DIR`` or the platform's user cache directory."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hlsmap", appauthor=False))


def cached_path(name: str) -> Path:
    """Where the converted copy of known model ``name`` lives (whether or not it exists)."""
    entry = get_known(name)
    return cache_dir() / "models" / f"{entry.name}-{entry.commit[:12]}"


def is_cached(name: str) -> bool:
    """Whether the converted copy of ``name`` is in the cache."""
    return (cached_path(name) / "model.json").is_file()


def resolve_known(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or for a known model's name (no such path exists) its cached copy,
    fetched and converted when missing."""
    p = Path(path)
    if str(path) in KNOWN_MODELS and not p.exists():
        return ensure_model(str(path))
    return p


def importer(entry: KnownModel) -> Callable[..., Path]:
    """The function that converts `entry`'s published files into an hlsmap model."""
    module, func = entry.importer.split(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def ensure_model(
    name: str,
    *,
    source: str | os.PathLike[str] | None = None,
    url: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """The converted copy of known model ``name`` in the cache, made when missing.

    Args:
        name: a key of :data:`KNOWN_MODELS`.
        source: a local copy of the published model folder (``model/forward`` of the
            repository) to convert instead of downloading; its LICENSE and NOTICE are looked
            for beside it and up to two folders above.
        url: base URL of a mirror (default ``$HLSMAP_<NAME>_URL`` or the pinned repository).
        progress: show a progress bar while downloading.
        force: convert again even when a copy is cached.

    Raises:
        RemoteError: the download failed (offline, server error): the message names the
            command that imports a local copy.
        ModelError: the files are not the known release, or are corrupt.
    """
    entry = get_known(name)
    dest = cached_path(name)
    if (dest / "model.json").is_file() and not force:
        return dest
    if source is not None:
        src = Path(source)
        legal = _find_legal(entry, src)
    else:
        root = download(entry, url=url, progress=progress)
        src, legal = root / entry.savedmodel, root
    return importer(entry)(src, dest, legal)


def _find_legal(entry: KnownModel, src: Path) -> Path:
    for folder in (src, *list(src.resolve().parents)[:2]):
        if all((folder / f).is_file() for f in entry.legal):
            return folder
    raise ModelError(
        f"{' and '.join(entry.legal)} of {entry.repository} are not beside {src} (or up to two"
        " folders above): they must travel with the converted weights; copy them there."
    )


def download(entry: KnownModel, *, url: str | None = None, progress: bool = True) -> Path:
    """Download ``entry``'s files (weights checked by sha256) into the cache; their folder."""
    import pooch
    import requests

    base = url or os.environ.get(entry.url_env) or entry.base_url
    base = base if base.endswith("/") else base + "/"
    root = cache_dir() / "downloads" / f"{entry.name}-{entry.commit[:12]}"
    registry: dict[str, str | None] = {**entry.weights, **dict.fromkeys(entry.legal)}
    store = pooch.create(path=root, base_url=base, registry=registry, retry_if_failed=2)
    for fname in registry:
        bar = DownloadBar(fname) if progress else None
        try:
            downloader = pooch.HTTPDownloader(progressbar=bar or False, timeout=60)
            store.fetch(fname, downloader=downloader)
        except requests.RequestException as exc:
            raise RemoteError(
                f"cannot download {entry.name} ({fname}) from {_redact(base)}:"
                f" {type(exc).__name__}; offline, import a local copy with `hlsmap models fetch"
                f" {entry.name} --from DIR` (DIR: the {entry.savedmodel} folder of"
                f" {entry.repository}), or set {entry.url_env} to a mirror."
            ) from None
        except ValueError as exc:  # pooch: the sha256 differs
            raise ModelError(
                f"{fname} from {_redact(base)} is not the known {entry.name} release ({exc});"
                f" check {entry.url_env} / --url."
            ) from None
        finally:
            if bar is not None:
                bar.close()
    return root


class DownloadBar:
    """A rich progress bar (bytes, rate) with the interface pooch's downloader feeds."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            TextColumn(label),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
        )
        self._task = self._bar.add_task(label, total=None)
        self._bar.start()
        self.total = 0

    def update(self, n: int) -> None:
        self._bar.update(self._task, advance=n, total=self.total or None)

    def reset(self) -> None:
        self._bar.reset(self._task, total=self.total or None)

    def close(self) -> None:
        self._bar.stop()


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe(name: str) -> dict[str, Any]:
    """What ``hlsmap models`` shows of known model ``name``."""
    entry = get_known(name)
    return {
        "name": entry.name,
        "title": entry.title,
        "architecture": entry.architecture,
        "source": f"{entry.repository} @ {entry.commit[:12]} ({entry.savedmodel})",
        "license": entry.license,
        "citation": entry.citation,
        "input": entry.contract,
        "cached": is_cached(name),
        "path": str(cached_path(name)),
    }
