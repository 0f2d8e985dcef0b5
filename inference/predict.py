"""The inference kernel: one jitted, sharded model call over batches of windows.

Every device of the process forms one ``('data',)`` mesh. The model's state is replicated on
all of them and each batch of windows is split along the batch axis, so one jitted function
serves one CPU, one GPU or eight devices alike. Windows of *all* the observations of a tile go
through the same fixed-size batches (padded to a multiple of the device count), so the function
compiles once per window shape.

Per observation the kernel returns what the consensus stage consumes (TEAM.md "Per-observation
predictions"): class probabilities quantized to uint8 (or argmax class + confidence), and the
``observed`` / ``valid`` masks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hlsmap.classes import CLOUD, NUM_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.inference.predict_profile import stage
from hlsmap.inference.tiling import (
    WindowPlan,
    blend_weights,
    pad_image,
    plan_windows,
    weight_sum,
)

FILL_REFLECTANCE = -9999
FILL_FMASK = 255
# HLS v2.0 Fmask bits 1 (cloud), 2 (adjacent to cloud/shadow) and 3 (cloud shadow).
FMASK_INVALID_BITS = 0b0000_1110

Normalizer = Callable[[np.ndarray, str], np.ndarray]
OutputKind = Literal["probs", "class"]
RUNTIMES = ("jax", "openvino")
"""Where the model runs: the jitted JAX function, or the network exported to OpenVINO (the
U-Net and Dynamic World; more through ``openvino_kernel.register_exporter``)."""
PRECISIONS = {"f32": None, "bf16": "bfloat16", "bf16-dots": "bf16_dots"}
"""User-facing precision names -> ``TileOptions.compute_dtype`` (``bf16-dots``: jax only)."""


@dataclass
class ObservationPrediction:
    """The model's view of one observation on one tile.

    Attributes:
        probs: uint8 (H, W, 10), class probabilities * 255 (index i = class code i + 1); zeros
            where not observed. ``None`` when the class output was asked for.
        cls: uint8 (H, W) argmax class code 1..10, 0 where not observed (class output only).
        confidence: uint8 (H, W) probability of the argmax class * 255, 0 where not observed
            (class output only).
        observed: bool (H, W): not fill, inside the swath.
        valid: bool (H, W): observed, not Fmask cloud/shadow/adjacent, model argmax not cloud.
        time: the observation time (``numpy.datetime64``) or ``None``.
        sensor: the sensor name (``"L30"``, ``"S30"``, ...).
    """

    probs: np.ndarray | None
    cls: np.ndarray | None
    confidence: np.ndarray | None
    observed: np.ndarray
    valid: np.ndarray
    time: Any = None
    sensor: str = ""


def make_data_mesh(devices: Sequence[Any] | None = None) -> Any:
    """A one-axis ``('data',)`` mesh over ``devices`` (default: all devices of the process).

    Axis types are ``Auto``: jax 0.10 defaults to ``Explicit`` sharding, which would make the
    model's own reshapes/convolutions declare output shardings; ``Auto`` lets XLA propagate the
    batch split through the network.
    """
    import jax

    devs = list(jax.devices() if devices is None else devices)
    return jax.make_mesh(
        (len(devs),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devs
    )


class Predictor:
    """A model ready for sliding-window inference on a device mesh.

    Args:
        model: an ``nnx.Module`` mapping (B, H, W, C) float32 to (B, H, W, 10) logits, with H
            and W multiples of ``model.multiple`` (1 when the attribute is absent).
        normalize: ``(x_int16 (..., C), sensor) -> float32 (..., C)``, fill mapped to 0; usually
            ``ModelMetadata.normalize``. Needed by :meth:`predict_observations` only.
        window: window side in pixels (rounded up to the model's multiple).
        overlap: pixels shared by neighbouring windows (the blend zone).
        batch_size: windows per model call; rounded up to a multiple of the device count
            (default: 2 per device).
        devices: the devices of the mesh (default: all).
        compute_dtype: run the model in this dtype (e.g. ``jnp.bfloat16``); parameters and
            inputs are cast inside the jitted function, probabilities come back in float32.
        bands: the model's band names in channel order (``meta.bands``); when given, pixels
            whose visible bands (blue + green + red) sum to <= 0 are not valid, like
            :func:`hlsmap.cube.clear_mask` (blank pixels are not observations of a surface).
        runtime: ``"jax"`` (the jitted function over the device mesh) or ``"openvino"`` (the
            network exported to OpenVINO: the fastest CPU kernel, see
            :mod:`hlsmap.inference.openvino_kernel`; ``compute_dtype=bfloat16`` selects its
            bf16 precision).
    """

    def __init__(
        self,
        model: Any,
        *,
        normalize: Normalizer | None = None,
        window: int = 256,
        overlap: int = 32,
        batch_size: int | None = None,
        devices: Sequence[Any] | None = None,
        compute_dtype: Any = None,
        bands: Sequence[str] | None = None,
        runtime: str = "jax",
    ) -> None:
        if runtime not in RUNTIMES:
            raise ConfigError(f"runtime {runtime!r}: use one of {RUNTIMES}")

        if hasattr(model, "eval"):
            model.eval()  # dropout off, batch norm on running statistics
        self.multiple = int(getattr(model, "multiple", 1))
        self.window = window
        self.overlap = overlap
        self.normalize = normalize
        names = list(bands or ())
        self._visible = [names.index(b) for b in ("blue", "green", "red") if b in names]
        self.runtime = runtime
        self._kernel: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        self.mesh: Any = None
        self.n_devices = 1
        if runtime == "openvino":
            # OpenVINO spreads each call over every core itself: no mesh, no jitted function,
            # no device copy of the parameters
            from hlsmap.inference.openvino_kernel import OpenVINOKernel

            bf16 = compute_dtype is not None and np.dtype(compute_dtype).itemsize == 2
            self._kernel = OpenVINOKernel(model, "bf16" if bf16 else "f32")
        else:
            self.mesh = make_data_mesh(devices)
            self.n_devices = int(self.mesh.devices.size)
            self._jit(model, compute_dtype)
        per = batch_size if batch_size is not None else 2 * self.n_devices
        if per < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = -(-per // self.n_devices) * self.n_devices

    def _jit(self, model: Any, compute_dtype: Any) -> None:
        """The jitted forward function: model replicated over the mesh, batches sharded."""
        import jax
        from flax import nnx

        graphdef, state = nnx.split(model)
        P = jax.sharding.PartitionSpec
        self._replicated = jax.sharding.NamedSharding(self.mesh, P())
        self._batched = jax.sharding.NamedSharding(self.mesh, P("data"))
        self._state = jax.device_put(state, self._replicated)

        def forward(state: Any, x: Any, weights: Any) -> Any:
            import jax.numpy as jnp

            if compute_dtype is not None:
                state = jax.tree.map(
                    lambda a: (
                        a.astype(compute_dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a
                    ),
                    state,
                )
                x = x.astype(compute_dtype)
            logits = nnx.merge(graphdef, state)(x).astype(jnp.float32)
            # softmax and blend weights inside the jit: the host only adds windows up
            return jax.nn.softmax(logits, axis=-1) * weights[None, :, :, None]

        self._forward = jax.jit(
            forward,
            in_shardings=(self._replicated, self._batched, self._replicated),
            out_shardings=self._batched,
        )

    def _run(self, x: np.ndarray, weights: np.ndarray, ws: Any = None) -> Any:
        """Dispatch one batch; the result converts with ``np.asarray`` (asynchronous on jax)."""
        if self._kernel is not None:
            return self._kernel(x, weights)
        import jax

        if ws is None:
            ws = jax.device_put(np.asarray(weights, np.float32), self._replicated)
        return self._forward(self._state, jax.device_put(x, self._batched), ws)

    # ------------------------------------------------------------------ kernel
    def plan(self, height: int, width: int) -> WindowPlan:
        """The window plan this predictor uses for an image of ``height`` x ``width``."""
        return plan_windows(
            height, width, window=self.window, overlap=self.overlap, multiple=self.multiple
        )

    def forward_batch(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Run the jitted model on a (B, h, w, C) batch; returns weighted probabilities.

        ``B`` must equal :attr:`batch_size` to reuse the compiled function (the tiled paths
        pad for you). Without ``weights`` the plain softmax probabilities come back.
        """
        if weights is None:
            weights = np.ones(x.shape[1:3], np.float32)
        return np.asarray(self._run(np.asarray(x, np.float32), np.asarray(weights, np.float32)))

    def predict_probs(self, images: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
        """Blended class probabilities of normalized images.

        Args:
            images: float32 (T, H, W, C), already normalized (fill = 0).
            skip: optional bool (T, H, W), pixels that need no prediction; windows made only of
                such pixels are not run (outside-swath parts of a tile cost nothing).

        Returns:
            float32 (T, H, W, 10) probabilities (rows sum to 1 where a window ran, 0 elsewhere).
        """
        per = self._probs_per_image(images, skip)
        shape = (*images.shape[1:3], NUM_CLASSES)
        return np.stack([np.zeros(shape, np.float32) if p is None else p for p in per])

    def _probs_per_image(
        self, images: np.ndarray, skip: np.ndarray | None
    ) -> list[np.ndarray | None]:
        """:meth:`predict_probs` image by image: ``None`` for an image with no window run."""
        if images.ndim != 4:
            raise ConfigError(f"images must be (T, H, W, C), got shape {images.shape}")
        t_count, height, width, channels = images.shape
        plan = self.plan(height, width)
        # one window per image (a tile + halo, the runner's default): nothing to blend, so no
        # weights and no division - a pass less over (T, H, W, 10) floats, ~10% of a tile
        single = len(plan.origins) == 1
        weights = np.ones(plan.window, np.float32) if single else blend_weights(plan)
        ws = None
        if self._kernel is None:
            import jax

            ws = jax.device_put(weights, self._replicated)
        with stage("windows"):
            padded = pad_image(np.asarray(images, np.float32), plan)
        wh, ww = plan.window
        ph, pw = plan.padded
        jobs = [
            (t, y, x)
            for t in range(t_count)
            for (y, x) in plan.origins
            if skip is None or not skip[t, y : y + wh, x : x + ww].all()
        ]
        # one window per image: each image's probabilities are a view of its batch's output
        # (no (T, H, W, 10) accumulator to zero, fill and divide)
        per: list[np.ndarray | None] = [None] * t_count
        acc = None if single else np.zeros((t_count, ph, pw, NUM_CLASSES), np.float32)

        def add(pending: tuple[Any, list[tuple[int, int, int]]]) -> None:
            out, batch_jobs = pending
            with stage("kernel"):  # jax: waits for the asynchronous call here
                probs = np.asarray(out)
            with stage("blend"):
                for k, (t, y, x) in enumerate(batch_jobs):
                    if acc is None:
                        per[t] = probs[k, :height, :width]
                    else:
                        acc[t, y : y + wh, x : x + ww] += probs[k]

        pending = None
        for start in range(0, len(jobs), self.batch_size):
            batch_jobs = jobs[start : start + self.batch_size]
            # a fresh buffer per batch: on CPU device_put may alias host memory, and the
            # previous batch may still be running (zeros pad the last batch)
            with stage("windows"):
                batch = np.zeros((self.batch_size, wh, ww, channels), np.float32)
                for k, (t, y, x) in enumerate(batch_jobs):
                    batch[k] = padded[t, y : y + wh, x : x + ww]
            # dispatch is asynchronous: blend the previous batch while this one runs
            with stage("kernel"):
                out = self._run(batch, weights, ws)
            if pending is not None:
                add(pending)
            pending = (out, batch_jobs)
        if pending is not None:
            add(pending)
        if acc is None:
            return per
        with stage("blend"):
            acc /= weight_sum(plan)[None, :, :, None]
        return [acc[t, :height, :width] for t in range(t_count)]

    # ------------------------------------------------------------ observations
    def predict_observations(
        self,
        bands: np.ndarray,
        fmask: np.ndarray,
        sensors: Sequence[str],
        times: Sequence[Any] | None = None,
        *,
        output: OutputKind = "probs",
        crop: tuple[slice, slice] | None = None,
    ) -> list[ObservationPrediction]:
        """Predict a stack of observations of one tile.

        Args:
            bands: int16 (T, H, W, C) reflectance in the model's band order (-9999 fill).
            fmask: uint8 (T, H, W) HLS Fmask (255 fill).
            sensors: the sensor of each observation (selects the normalization).
            times: the time of each observation (copied into the results).
            output: ``"probs"`` (uint8 probabilities) or ``"class"`` (class + confidence).
            crop: return only this ``(rows, cols)`` part of each observation (a tile without
                its halo): the model sees the whole image, the outputs are made for the crop.

        Returns:
            One :class:`ObservationPrediction` per observation, in input order.
        """
        if self.normalize is None:
            raise ConfigError(
                "this Predictor has no normalize function; pass normalize=meta.normalize"
            )
        if output not in ("probs", "class"):
            raise ConfigError(f"output must be 'probs' or 'class', got {output!r}")
        if bands.ndim != 4 or fmask.shape != bands.shape[:3] or len(sensors) != bands.shape[0]:
            raise ConfigError(
                f"need bands (T, H, W, C), fmask (T, H, W) and T sensors; got {bands.shape}, "
                f"{fmask.shape} and {len(sensors)} sensors"
            )
        with stage("fmask"):
            observed = observed_mask(bands, fmask)
        # the model's inputs may hold more channels than the bands (derived indices)
        with stage("normalise"):
            inputs = [self.normalize(bands[t], sensor) for t, sensor in enumerate(sensors)]
        with stage("float copy"):
            x = np.stack(inputs).astype(np.float32, copy=False)
            x[~observed] = 0.0  # partially filled pixels count as fill everywhere
        with stage("fmask"):
            flagged = (fmask & FMASK_INVALID_BITS) != 0
            if self._visible:
                visible = np.zeros(bands.shape[:3], np.int32)
                for v in self._visible:
                    visible += bands[..., v]
                flagged |= visible <= 0
        # Flagged pixels can never be valid, so windows holding nothing else are not run: in
        # cloudy seasons whole observations of a tile cost nothing.
        per = self._probs_per_image(x, skip=~observed | flagged)
        core = crop or (slice(None), slice(None))
        results = []
        for t in range(bands.shape[0]):
            probs = per[t]
            with stage("uint8"):
                if probs is None:
                    probs = np.zeros((*bands.shape[1:3], NUM_CLASSES), np.float32)
                results.append(
                    _finish(
                        probs[core],
                        observed[t][core],
                        flagged[t][core],
                        output,
                        None if times is None else times[t],
                        sensors[t],
                    )
                )
        return results

    def predict_dataset(
        self,
        cube: Any,
        bands: Sequence[str],
        *,
        time_batch: int = 8,
        output: OutputKind = "probs",
    ) -> Iterator[ObservationPrediction]:
        """Stream predictions for every observation of a cube tile, ``time_batch`` at a time.

        Only ``time_batch`` observations are loaded (``.values`` of a lazy cube) at once, so
        memory is bounded by the tile size, not by the number of observations.

        Args:
            cube: an ``xarray.Dataset`` (time, y, x) with the band variables, ``fmask`` and a
                ``sensor`` coordinate (the :func:`hlsmap.cube.load_cube` contract).
            bands: the model's band names, in channel order.
            time_batch: observations per batch.
            output: as in :meth:`predict_observations`.
        """
        if time_batch < 1:
            raise ConfigError(f"time_batch must be >= 1, got {time_batch}")
        missing = [b for b in (*bands, "fmask") if b not in cube.data_vars]
        if missing:
            raise ConfigError(f"the cube lacks {missing}; load it with bands={tuple(bands)}")
        n_time = cube.sizes["time"]
        for start in range(0, n_time, time_batch):
            part = cube.isel(time=slice(start, start + time_batch))
            stack = np.stack([np.asarray(part[b].values, np.int16) for b in bands], axis=-1)
            fmask = np.asarray(part["fmask"].values, np.uint8)
            sensors = [str(s) for s in np.atleast_1d(part["sensor"].values)]
            times = list(np.atleast_1d(part["time"].values))
            yield from self.predict_observations(stack, fmask, sensors, times, output=output)


def observed_mask(bands: np.ndarray, fmask: np.ndarray) -> np.ndarray:
    """Pixels with data: Fmask not fill and no band at the -9999 fill value. (T, H, W) bool."""
    from hlsmap.cube import any_band_fill

    return (fmask != FILL_FMASK) & ~any_band_fill(bands, FILL_REFLECTANCE)


def _finish(
    probs: np.ndarray,
    observed: np.ndarray,
    flagged: np.ndarray,
    output: OutputKind,
    time: Any,
    sensor: str,
) -> ObservationPrediction:
    """Quantize one observation's probabilities and derive its masks."""
    arg = np.argmax(probs, axis=-1)
    valid = observed & ~flagged & (arg != CLOUD - 1)
    if output == "probs":
        # in place, as np.rint(np.clip(probs, 0, 1) * 255): probabilities are >= 0, and
        # clipping the product at 255 equals clipping the probability at 1
        q = np.multiply(probs, 255.0, dtype=np.float32)
        np.rint(q, out=q)
        np.minimum(q, 255.0, out=q)
        q = q.astype(np.uint8)
        q[~observed] = 0
        return ObservationPrediction(q, None, None, observed, valid, time, sensor)
    predicted = observed & (probs.sum(axis=-1) > 0)  # windows that were not run: no class
    cls = np.where(predicted, arg + 1, 0).astype(np.uint8)
    conf = np.rint(np.max(probs, axis=-1) * 255.0).astype(np.uint8)
    conf[~observed] = 0
    return ObservationPrediction(None, cls, conf, observed, valid, time, sensor)
