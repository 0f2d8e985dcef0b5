"""Bring your own cube: an odc-stac or stackstac cube -> hlsmap's cube contract.

hlsmap's cube (see DESIGN.md) is a Dataset ``(time, y, x)`` on one GeoBox with the harmonized
bands ``blue, green, red, nir08, swir16, swir22`` as int16 reflectance (scale 0.0001, fill
-9999), ``fmask`` (uint8, HLS Fmask, 255 fill) and a per-time ``sensor`` coordinate.
:func:`harmonize_cube` renames HLS asset keys (``B05`` of L30 and ``B8A`` of S30 are both
``nir08``: the sensor decides, never a common name), turns a stackstac ``band`` dimension into
variables, and converts dtypes only where the conversion is known: float reflectance needs its
scale said (``scale``), so a cube of 0..1 floats is never cast to int16 zeros in silence.
Anything missing is an error that names it and how to get it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hlsmap.errors import ConfigError

BANDS: tuple[str, ...] = ("blue", "green", "red", "nir08", "swir16", "swir22")
ASSETS: dict[str, dict[str, str]] = {
    "L30": {"B02": "blue", "B03": "green", "B04": "red", "B05": "nir08", "B06": "swir16",
            "B07": "swir22", "Fmask": "fmask"},
    "S30": {"B02": "blue", "B03": "green", "B04": "red", "B8A": "nir08", "B11": "swir16",
            "B12": "swir22", "Fmask": "fmask"},
}  # fmt: skip
"""HLS v2.0 asset keys of each sensor -> hlsmap names."""
FILL = -9999


def harmonize_cube(
    cube: xr.Dataset | xr.DataArray,
    sensor: str | None = None,
    scale: float | None = None,
    nodata: float | None = None,
) -> xr.Dataset:
    """An odc-stac Dataset or stackstac DataArray as an hlsmap cube (lazy stays lazy).

    Args:
        cube: ``(time, y, x)`` variables, or a DataArray with a ``band`` dimension.
        sensor: ``"L30"``/``"S30"`` when the cube has no ``sensor`` coordinate (one sensor).
        scale: reflectance per stored unit of float bands (``1.0``: floats are reflectance
            0..1; ``0.0001``: floats hold HLS digital numbers). Required for float bands.
        nodata: the bands' fill value when it is not in their ``nodata``/``_FillValue`` attrs.

    Raises:
        ConfigError: a band, ``fmask``, the sensor, the CRS or a dimension is missing, or
            float bands come without ``scale``.
    """
    ds = _as_dataset(cube)
    missing_dims = [d for d in ("time", "y", "x") if d not in ds.dims]
    if missing_dims:
        raise ConfigError(f"the cube lacks the dimensions {missing_dims}; need (time, y, x)")
    ds = _with_sensor(ds, sensor)
    ds = _renamed(ds)
    absent = [b for b in (*BANDS, "fmask") if b not in ds]
    if absent:
        raise ConfigError(
            f"the cube lacks {absent}; load those HLS assets too (L30 B02-B07, S30 B02-B04 "
            "B8A B11 B12, and Fmask: without it clouds are never masked)"
        )
    try:
        geobox = ds.odc.geobox
    except Exception:  # odc-geo raises several kinds on a cube without a usable grid
        geobox = None
    if geobox is None:
        raise ConfigError(
            "the cube has no CRS/grid; assign one first: cube.odc.assign_crs('EPSG:32615')"
        )
    out = xr.Dataset(
        {b: _reflectance(ds[b], scale, nodata) for b in BANDS} | {"fmask": _fmask(ds["fmask"])},
        coords={k: v for k, v in ds.coords.items() if k in ("time", "y", "x", "spatial_ref")},
    )
    out = out.assign_coords(sensor=("time", np.asarray(ds["sensor"].values).astype(str)))
    platform = ds["platform"].values if "platform" in ds.coords else out["sensor"].values
    out = out.assign_coords(platform=("time", np.asarray(platform).astype(str)))
    return out.odc.assign_crs(geobox.crs)


def _as_dataset(cube: xr.Dataset | xr.DataArray) -> xr.Dataset:
    if isinstance(cube, xr.Dataset):
        return cube
    if "band" not in cube.dims:
        raise ConfigError("a DataArray cube needs a 'band' dimension (as stackstac makes)")
    per_time = {c: cube.coords[c] for c in ("sensor", "platform") if c in cube.coords}
    keep = ("time", "y", "x", "band", "spatial_ref")
    bare = cube.drop_vars([c for c in cube.coords if c not in keep])
    ds = bare.to_dataset("band")
    for name, coord in per_time.items():
        if coord.dims == ("time",):
            ds = ds.assign_coords({name: coord})
    ds.attrs.update(cube.attrs)
    return ds


def _with_sensor(ds: xr.Dataset, sensor: str | None) -> xr.Dataset:
    if "sensor" in ds.coords:
        return ds
    if sensor is None:
        raise ConfigError(
            "the cube has no per-time 'sensor' coordinate; pass sensor='L30' or 'S30' "
            "(one sensor), or assign_coords(sensor=('time', [...]))"
        )
    return ds.assign_coords(sensor=("time", np.full(ds.sizes["time"], sensor)))


def _renamed(ds: xr.Dataset) -> xr.Dataset:
    sensors = set(np.asarray(ds["sensor"].values).astype(str))
    keys = [str(v) for v in ds.data_vars if v not in (*BANDS, "fmask")]
    if not keys:
        return ds
    maps = [ASSETS[s] for s in sensors if s in ASSETS]
    if len(maps) != 1:
        # B05 is NIR on L30 but red edge on S30: one cube of asset keys must be one sensor
        if any(k in ("B05", "B8A", "B11") for k in keys):
            raise ConfigError(
                f"asset keys of sensors {sorted(sensors)} cannot be renamed in one cube; "
                "harmonize each sensor's cube, then concatenate them along time"
            )
        return ds
    return ds.rename({k: v for k, v in maps[0].items() if k in ds and v not in ds})


def _nodata(da: xr.DataArray, nodata: float | None) -> float | None:
    for key in ("nodata", "_FillValue"):
        if key in da.attrs:
            return float(da.attrs[key])
        if key in da.encoding:
            return float(da.encoding[key])
    return nodata


def _reflectance(da: xr.DataArray, scale: float | None, nodata: float | None) -> xr.DataArray:
    fill = _nodata(da, nodata)
    if np.issubdtype(da.dtype, np.floating):
        if scale is None:
            raise ConfigError(
                f"band {da.name} is {da.dtype}; say what it holds: scale=1.0 for reflectance "
                "0..1 or scale=0.0001 for HLS digital numbers (hlsmap stores int16 * 0.0001)"
            )
        bad = da.isnull() if fill is None else (da.isnull() | (da == fill))
        dn = (da * (scale / 0.0001)).round().clip(-32768, 32767)
        out = dn.where(~bad, FILL).astype(np.int16)
    elif np.issubdtype(da.dtype, np.integer):
        if da.dtype.itemsize > 2 or da.dtype == np.uint16:
            out = da.clip(-32768, 32767).astype(np.int16)
        else:
            out = da.astype(np.int16)
        if fill is not None and fill != FILL:
            out = out.where(da != fill, FILL)
    else:
        raise ConfigError(f"band {da.name} has dtype {da.dtype}; need integers or floats")
    return out.assign_attrs(nodata=FILL, scale_factor=0.0001)


def _fmask(da: xr.DataArray) -> xr.DataArray:
    if np.issubdtype(da.dtype, np.floating):
        # stackstac reads everything as float with NaN fill: NaN is Fmask's 255 (fill)
        da = da.fillna(255)
    return da.astype(np.uint8).assign_attrs(nodata=255)
