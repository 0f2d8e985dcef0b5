"""Training chips: cut observations + labels into fixed-size chips stored in Zarr.

A chip set is one Zarr group (``hlsmap-chips`` format) holding, per chip, the harmonized bands
(int16, -9999 fill), Fmask (uint8), the label chip (class codes, 0 = unlabeled/ignored), the
sensor, the observation time and id, and the split (train / test, by observation). Its
attributes carry the band order, per-class pixel counts and per-sensor band statistics of the
training split (which become the model's normalization).

Format version 2 adds optional *soft targets* (``hlsmap distill``): ``soft`` (uint8
``(N, H, W, 10)``, per-class probability x 255 from a teacher's consensus) and ``weight``
(uint8 ``(N, H, W)``, the pixel's loss weight x 255), plus a ``region`` index per chip (attrs
``regions``) for sampling balanced across regions. ``labels`` then holds the soft targets'
argmax (0 where the weight is 0). Version 1 sets (hard labels only) still read.

Sources: any (time, y, x) cube with labels (:func:`chips_from_cube`), a label raster plus STAC
items loaded through :func:`hlsmap.cube.load_cube` (:func:`chips_from_labels`), or the
synthetic world's per-observation truth (:func:`chips_from_world`, ``hlsmap chips``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.errors import ChipSetError, ConfigError
from hlsmap.model import BANDS, DEFAULT_SENSOR, FILL

FORMAT = "hlsmap-chips"
FORMAT_VERSION = 2
SPLITS = ("train", "test")
FMASK_FILL = 255
_NOT_CLEAR = 0b0000_1110  # Fmask bits 1-3: cloud, adjacent to cloud/shadow, cloud shadow
_CLOUD_BIT = 0b0000_0010


@dataclass
class Observation:
    """One observation to cut into chips.

    Attributes:
        bands: ``(H, W, C)`` int16 reflectance (fill -9999), bands in the chip set's order.
        fmask: ``(H, W)`` uint8 HLS Fmask (255 fill).
        labels: ``(H, W)`` uint8 class codes (0 = unlabeled).
        sensor: the cube's sensor name (``"L30"``, ``"S30"``, ...).
        time: the observation time.
        obs_id: a stable id (decides the split).
        soft: optional ``(H, W, 10)`` uint8 soft targets (class probability x 255).
        weight: optional ``(H, W)`` uint8 loss weight x 255 (with ``soft``).
        region: the region the observation belongs to (for balanced sampling).
    """

    bands: np.ndarray
    fmask: np.ndarray
    labels: np.ndarray
    sensor: str
    time: np.datetime64
    obs_id: str
    soft: np.ndarray | None = None
    weight: np.ndarray | None = None
    region: str = ""


def _seconds(t: Any) -> int:
    """Seconds since the epoch of a datetime64 / datetime / ISO string."""
    return int(np.datetime64(t).astype("datetime64[s]").astype(np.int64))


def split_of(obs_id: str, holdout: float, seed: int = 0) -> str:
    """``"test"`` for a stable pseudo-random ``holdout`` share of observation ids."""
    h = hashlib.sha256(f"{seed}:{obs_id}".encode()).digest()
    u = int.from_bytes(h[:8], "little") / 2**64
    return "test" if u < holdout else "train"


def clear_pixels(bands: np.ndarray, fmask: np.ndarray) -> np.ndarray:
    """Clear pixels (DESIGN.md): Fmask not fill, bits 1-3 unset, no band at fill/NaN, and a
    positive visible reflectance."""
    b = bands.astype(np.float32)
    ok = (fmask != FMASK_FILL) & ((fmask & _NOT_CLEAR) == 0)
    ok &= np.all((b != FILL) & np.isfinite(b), axis=-1)
    ok &= b[..., :3].sum(axis=-1) > 0
    return np.asarray(ok)


def valid_input(bands: np.ndarray) -> np.ndarray:
    """Pixels whose every band holds a value (not fill, not NaN)."""
    b = np.asarray(bands)
    if np.issubdtype(b.dtype, np.floating):
        return np.all(np.isfinite(b) & (b != FILL), axis=-1)
    return np.all(b != FILL, axis=-1)


class ChipWriter:
    """Appends observations' chips to a new chip set; :meth:`close` publishes it atomically."""

    def __init__(
        self,
        out: str | os.PathLike[str],
        bands: tuple[str, ...] = BANDS,
        *,
        chip_size: int = 64,
        stride: int | None = None,
        min_labeled: float = 0.5,
        holdout: float = 0.2,
        seed: int = 0,
        cloud_from_fmask: bool = True,
        source: dict[str, Any] | None = None,
        overwrite: bool = False,
        soft: bool = False,
        split_of_obs: Any = None,
    ) -> None:
        import zarr

        if chip_size < 8:
            raise ConfigError(f"chip_size={chip_size} is too small; use 32..256 (64 default).")
        if not 0.0 <= holdout < 1.0:
            raise ConfigError(f"holdout={holdout} must be in [0, 1).")
        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise ConfigError(f"{self.out} exists: choose a new output or pass overwrite.")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=self.out.parent))
        self.bands = tuple(bands)
        self.size = chip_size
        self.stride = stride or chip_size
        self.min_labeled = min_labeled
        self.holdout, self.seed = holdout, seed
        self.cloud_from_fmask = cloud_from_fmask
        self.source = dict(source or {})
        self.soft = soft
        # a callable obs -> "train"/"test" replacing the hashed split (held-out regions)
        self.split_of_obs = split_of_obs
        self.group = zarr.open_group(self.tmp, mode="w")
        s, c = chip_size, len(self.bands)
        self._arrays = {
            "bands": self.group.create_array("bands", shape=(0, s, s, c), chunks=(1, s, s, c),
                                             dtype="int16", fill_value=FILL),
            "fmask": self.group.create_array("fmask", shape=(0, s, s), chunks=(1, s, s),
                                             dtype="uint8", fill_value=FMASK_FILL),
            "labels": self.group.create_array("labels", shape=(0, s, s), chunks=(1, s, s),
                                              dtype="uint8", fill_value=0),
        }  # fmt: skip
        if soft:
            self._arrays["soft"] = self.group.create_array(
                "soft", shape=(0, s, s, NUM_CLASSES), chunks=(1, s, s, NUM_CLASSES),
                dtype="uint8", fill_value=0)  # fmt: skip
            self._arrays["weight"] = self.group.create_array(
                "weight", shape=(0, s, s), chunks=(1, s, s), dtype="uint8", fill_value=0
            )
        self.regions: list[str] = []
        self._meta: dict[str, list[Any]] = {
            k: [] for k in ("sensor", "time", "obs", "split", "row", "col", "counts", "region")
        }
        self.observations: list[dict[str, Any]] = []
        self.sensors: list[str] = []
        # per-sensor sums of train-split clear pixels, for the normalization statistics
        self._stats: dict[str, np.ndarray] = {}
        self.n = 0

    def add(self, obs: Observation) -> int:
        """Cut ``obs`` into chips and append those with enough labelled pixels.

        Returns:
            The number of chips written.
        """
        h, w, c = obs.bands.shape
        if c != len(self.bands):
            raise ConfigError(f"observation has {c} bands, the chip set {len(self.bands)}.")
        if obs.labels.shape != (h, w) or obs.fmask.shape != (h, w):
            raise ConfigError(
                f"labels {obs.labels.shape} / fmask {obs.fmask.shape} do not match the bands"
                f" grid {(h, w)}: resample labels to the cube grid first (resample_labels)."
            )
        bands = np.asarray(obs.bands)
        if np.issubdtype(bands.dtype, np.floating):
            bands = np.where(np.isfinite(bands), bands, FILL)
        bands = bands.astype(np.int16)
        labels = obs.labels.astype(np.uint8).copy()
        labels[labels > NUM_CLASSES] = 0
        soft = weight = None
        if self.soft:
            if obs.soft is None or obs.weight is None:
                raise ConfigError("a soft-target chip set needs each observation's soft + weight")
            soft = np.asarray(obs.soft, np.uint8).copy()
            weight = np.asarray(obs.weight, np.uint8).copy()
        if self.cloud_from_fmask:
            cloudy = (obs.fmask != FMASK_FILL) & ((obs.fmask & _CLOUD_BIT) != 0)
            labels[cloudy] = CLOUD
            if soft is not None and weight is not None:
                soft[cloudy] = 0
                soft[cloudy, CLOUD - 1] = 255
                weight[cloudy] = 255
        labels[~valid_input(bands)] = 0  # nothing to learn from where there is no input
        if weight is not None:
            weight[labels == 0] = 0
            labels[weight == 0] = 0
        if self.split_of_obs is not None:
            split = str(self.split_of_obs(obs))
        else:
            split = split_of(obs.obs_id, self.holdout, self.seed)
        if split == "train":
            self._accumulate(obs.sensor, bands, obs.fmask)
        if obs.sensor not in self.sensors:
            self.sensors.append(obs.sensor)
        s, st = self.size, self.stride
        picks = []
        for r in range(0, h - s + 1, st):
            for q in range(0, w - s + 1, st):
                lab = labels[r : r + s, q : q + s]
                if np.count_nonzero(lab) >= self.min_labeled * s * s:
                    picks.append((r, q))
        if picks:
            k = len(picks)
            stack_b = np.stack([bands[r : r + s, q : q + s] for r, q in picks])
            stack_f = np.stack([obs.fmask[r : r + s, q : q + s] for r, q in picks])
            stack_l = np.stack([labels[r : r + s, q : q + s] for r, q in picks])
            stacks = [("bands", stack_b), ("fmask", stack_f), ("labels", stack_l)]
            if soft is not None and weight is not None:
                stacks.append(("soft", np.stack([soft[r : r + s, q : q + s] for r, q in picks])))
                stacks.append(("weight", np.stack([weight[r : r + s, q : q + s]
                                                   for r, q in picks])))  # fmt: skip
            for name, arr in stacks:
                a = self._arrays[name]
                a.resize((self.n + k, *a.shape[1:]))
                a[self.n : self.n + k] = arr
            m = self._meta
            m["sensor"] += [self.sensors.index(obs.sensor)] * k
            m["time"] += [_seconds(obs.time)] * k
            m["obs"] += [len(self.observations)] * k
            m["split"] += [SPLITS.index(split)] * k
            m["row"] += [r for r, _ in picks]
            m["col"] += [q for _, q in picks]
            m["counts"] += [np.bincount(x.ravel(), minlength=NUM_CLASSES + 1) for x in stack_l]
            if obs.region not in self.regions:
                self.regions.append(obs.region)
            m["region"] += [self.regions.index(obs.region)] * k
            self.n += k
        when = str(np.datetime64(_seconds(obs.time), "s"))
        self.observations.append(
            {"id": obs.obs_id, "sensor": obs.sensor, "time": when, "split": split,
             "chips": len(picks)}
        )  # fmt: skip
        return len(picks)

    def _accumulate(self, sensor: str, bands: np.ndarray, fmask: np.ndarray) -> None:
        ok = clear_pixels(bands, fmask)
        if not ok.any():
            return
        px = bands[ok].astype(np.float64)
        acc = self._stats.setdefault(sensor, np.zeros((3, bands.shape[-1])))
        acc[0] += px.shape[0]
        acc[1] += px.sum(axis=0)
        acc[2] += (px**2).sum(axis=0)

    def normalization(self) -> dict[str, dict[str, list[float]]]:
        """Per-sensor and pooled band mean/std of the training split's clear pixels."""
        out: dict[str, dict[str, list[float]]] = {}

        def ms(acc: np.ndarray) -> dict[str, list[float]]:
            n = max(acc[0][0], 1.0)
            mean = acc[1] / n
            std = np.sqrt(np.maximum(acc[2] / n - mean**2, 1.0))
            return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}

        for sensor, acc in self._stats.items():
            out[sensor] = ms(acc)
        if self._stats:
            out[DEFAULT_SENSOR] = ms(sum(self._stats.values()))  # type: ignore[arg-type]
        return out

    def close(self) -> ChipStore:
        """Write the per-chip tables and attributes, then move the set into place."""
        try:
            if self.n == 0:
                raise ChipSetError(
                    "no chip had enough labelled pixels: check that labels overlap the imagery"
                    " (same grid/CRS) or lower min_labeled."
                )
            m = self._meta
            tables: dict[str, np.ndarray] = {
                "sensor": np.asarray(m["sensor"], np.uint8),
                "time": np.asarray(m["time"], np.int64),
                "obs": np.asarray(m["obs"], np.int32),
                "split": np.asarray(m["split"], np.uint8),
                "origin": np.stack([m["row"], m["col"]], axis=1).astype(np.int32),
                "counts": np.stack(m["counts"]).astype(np.int64),
                "region": np.asarray(m["region"], np.uint16),
            }
            for name, arr in tables.items():
                a = self.group.create_array(name, shape=arr.shape, dtype=arr.dtype)
                a[...] = arr
            counts = tables["counts"]
            self.group.attrs.update(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "bands": list(self.bands),
                    "chip_size": self.size,
                    "sensors": self.sensors,
                    "splits": list(SPLITS),
                    "holdout": self.holdout,
                    "soft_targets": self.soft,
                    "regions": self.regions,
                    "class_counts": {
                        s: counts[tables["split"] == i].sum(axis=0).tolist()
                        for i, s in enumerate(SPLITS)
                    },
                    "normalization": self.normalization(),
                    "observations": self.observations,
                    "source": json.loads(json.dumps(self.source, default=str)),
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
            if self.out.exists():
                shutil.rmtree(self.out)
            os.replace(self.tmp, self.out)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return ChipStore.open(self.out)

    def abort(self) -> None:
        """Drop the partial chip set."""
        shutil.rmtree(self.tmp, ignore_errors=True)


class ChipStore:
    """A chip set on disk; arrays are read lazily (streamed) or cached in memory."""

    def __init__(self, path: Path, group: Any) -> None:
        self.path = path
        self.group = group
        a = dict(group.attrs)
        self.attrs = a
        self.bands: tuple[str, ...] = tuple(a["bands"])
        self.chip_size: int = int(a["chip_size"])
        self.sensors: list[str] = list(a["sensors"])
        self.normalization: dict[str, dict[str, list[float]]] = a["normalization"]
        self.sensor = np.asarray(group["sensor"][...])
        self.split = np.asarray(group["split"][...])
        self.counts = np.asarray(group["counts"][...])
        self.time = np.asarray(group["time"][...]).astype("datetime64[s]")
        self.obs = np.asarray(group["obs"][...])
        # version 2: soft targets (distillation) and a region per chip; version 1 has neither
        self.soft: bool = bool(a.get("soft_targets", False)) and "soft" in group
        self.regions: list[str] = list(a.get("regions", [""]))
        self.region = (
            np.asarray(group["region"][...])
            if "region" in group
            else np.zeros(len(self.sensor), np.uint16)
        )
        self._cache: dict[str, np.ndarray] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ChipStore:
        """Open a chip set; a missing or foreign directory is a :class:`ChipSetError`."""
        import zarr

        p = Path(path)
        if not p.is_dir():
            raise ChipSetError(f"chip set {p} does not exist: build one with `hlsmap chips`.")
        try:
            group = zarr.open_group(p, mode="r")
            attrs = dict(group.attrs)
        except Exception as exc:  # zarr raises several kinds for foreign folders
            raise ChipSetError(f"{p} is not a Zarr chip set ({exc}).") from None
        if attrs.get("format") != FORMAT:
            raise ChipSetError(f"{p} is not an hlsmap chip set: build one with `hlsmap chips`.")
        if int(attrs.get("format_version", 0)) > FORMAT_VERSION:  # type: ignore[arg-type]
            raise ChipSetError(f"{p} was written by a newer hlsmap: upgrade hlsmap.")
        return cls(p, group)

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    @property
    def nbytes(self) -> int:
        """Uncompressed size of the chip arrays."""
        s = self.chip_size
        return len(self) * s * s * (2 * len(self.bands) + 2 + (NUM_CLASSES + 1) * self.soft)

    def indices(self, split: str) -> np.ndarray:
        """Chip indices of ``split`` (``train`` or ``test``)."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}: use one of {SPLITS}.")
        return np.flatnonzero(self.split == SPLITS.index(split))

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Pixels per class code 0..10 in ``split``."""
        return np.asarray(self.attrs["class_counts"][split], dtype=np.int64)

    @property
    def arrays(self) -> tuple[str, ...]:
        """The per-pixel arrays of a chip (``soft`` and ``weight`` too in a soft-target set)."""
        return ("bands", "fmask", "labels") + (("soft", "weight") if self.soft else ())

    def cache(self) -> None:
        """Read every chip into memory (faster random access for small sets)."""
        if self._cache is None:
            self._cache = {k: np.asarray(self.group[k][...]) for k in self.arrays}

    def read(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Chips ``idx`` as ``{"bands", "fmask", "labels", "sensor"}`` arrays (in ``idx`` order),
        plus ``soft`` and ``weight`` in a soft-target set."""
        idx = np.asarray(idx, dtype=np.int64)
        out: dict[str, np.ndarray] = {"sensor": self.sensor[idx]}
        if self._cache is not None:
            for k, v in self._cache.items():
                out[k] = v[idx]
            return out
        order = np.argsort(idx)
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        uniq, pos = np.unique(idx[order], return_inverse=True)
        for k in self.arrays:
            out[k] = np.asarray(self.group[k].oindex[uniq])[pos][inv]
        return out


def resample_labels(
    labels: np.ndarray, src_transform: Any, src_crs: Any, geobox: Any
) -> np.ndarray:
    """Resample a label raster to ``geobox`` by majority (mode), keeping 0 as unlabeled.

    Labels at a finer resolution (for example 10 m Dynamic World tiles) become the majority
    class of each 30 m cell; any CRS is reprojected.
    """
    from rasterio.warp import Resampling, reproject

    dst = np.zeros(geobox.shape, dtype=np.uint8)
    reproject(
        np.asarray(labels, dtype=np.uint8),
        dst,
        src_transform=src_transform,
        src_crs=src_crs,
        src_nodata=0,
        dst_transform=geobox.affine,
        dst_crs=str(geobox.crs),
        dst_nodata=0,
        resampling=Resampling.mode,
    )
    return dst


def observations_from_cube(
    cube: Any, labels: Any, *, ids: Iterable[str] | None = None, bands: Any = None
) -> Iterator[Observation]:
    """Observations of a cube (``load_cube``'s layout) paired with labels.

    Args:
        cube: ``xr.Dataset`` with band variables, ``fmask``, and ``time``/``sensor`` coords.
        labels: ``(y, x)`` labels for every observation (a season or a year), or
            ``(time, y, x)`` per observation; on the cube's grid (see :func:`resample_labels`).
        ids: observation ids (default: ``<sensor>_<time>``).
        bands: the bands, in order (default: the harmonized bands the cube holds).
    """
    bands = list(bands) if bands is not None else [b for b in BANDS if b in cube.data_vars]
    lab = np.asarray(labels)
    id_list = list(ids) if ids is not None else None
    for t in range(cube.sizes["time"]):
        sl = cube.isel(time=t)
        x = np.stack([np.asarray(sl[b]) for b in bands], axis=-1)
        sensor = str(sl["sensor"].values) if "sensor" in sl.coords else DEFAULT_SENSOR
        time = np.datetime64(sl["time"].values, "s")
        yield Observation(
            bands=x,
            fmask=np.asarray(sl["fmask"]),
            labels=lab[t] if lab.ndim == 3 else lab,
            sensor=sensor,
            time=time,
            obs_id=id_list[t] if id_list is not None else f"{sensor}_{time}",
        )


def write_chips(
    observations: Iterable[Observation], out: str | os.PathLike[str], **kw: Any
) -> ChipStore:
    """Cut ``observations`` into a new chip set at ``out`` (options as :class:`ChipWriter`)."""
    total = kw.pop("total", None)
    writer = ChipWriter(out, **kw)
    try:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("cutting chips", total=total)
            for obs in observations:
                writer.add(obs)
                bar.advance(task)
    except BaseException:
        writer.abort()
        raise
    return writer.close()
