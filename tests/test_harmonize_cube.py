"""hlsmap.harmonize_cube: an odc-stac / stackstac style cube -> hlsmap's cube contract."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import hlsmap
from hlsmap.errors import ConfigError

GB = GeoBox.from_bbox((500000, 4000000, 500120, 4000090), "EPSG:32615", resolution=30)
TIMES = np.array(["2024-01-02", "2024-01-05"], "datetime64[ns]")
S30 = ("B02", "B03", "B04", "B8A", "B11", "B12", "Fmask")


def _stackstac(values: dict[str, float], dtype: str = "float64") -> xr.DataArray:
    """A stackstac-like DataArray: (time, band, y, x) floats, NaN fill, a CRS."""
    h, w = GB.shape
    data = np.stack([np.full((2, h, w), v, dtype) for v in values.values()], axis=1)
    coords = {str(k): v for k, v in xr_coords(GB).items()}
    da = xr.DataArray(
        data, dims=("time", "band", "y", "x"),
        coords={**coords, "time": TIMES, "band": list(values)},
    )  # fmt: skip
    return da.odc.assign_crs(GB.crs)


def test_stackstac_floats_need_their_scale_then_meet_the_contract() -> None:
    da = _stackstac({k: (0.0 if k == "Fmask" else 0.1234) for k in S30})
    da[0, 0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="scale=1.0"):
        hlsmap.harmonize_cube(da, sensor="S30")  # no silent int16 cast of 0..1 floats
    cube = hlsmap.harmonize_cube(da, sensor="S30", scale=1.0)
    assert set(cube.data_vars) == {"blue", "green", "red", "nir08", "swir16", "swir22", "fmask"}
    assert cube["nir08"].dtype == np.int16 and int(cube["nir08"][0, 0, 0]) == 1234
    assert int(cube["blue"][0, 0, 0]) == -9999  # NaN is the HLS fill
    assert cube["fmask"].dtype == np.uint8
    assert list(cube["sensor"].values) == ["S30", "S30"]
    assert cube.odc.geobox == GB


def test_missing_parts_are_named() -> None:
    da = _stackstac({k: 100.0 for k in S30 if k != "Fmask"})
    with pytest.raises(ConfigError, match="fmask"):
        hlsmap.harmonize_cube(da, sensor="S30", scale=0.0001)
    with pytest.raises(ConfigError, match="sensor"):
        hlsmap.harmonize_cube(_stackstac({k: 1.0 for k in S30}), scale=0.0001)
