"""The parameters of a synthetic world: one frozen dataclass, recorded whole in the manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hlsmap.errors import ConfigError
from hlsmap.simulate.climate import CLIMATES


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides a synthetic world; one seed + one config = one world, bit for bit.

    Attributes:
        seed: the random seed; every random draw derives from it.
        size: the region's width and height in 30 m pixels (512 = 15.4 km; up to 3660, a full
            HLS tile).
        year: the first calendar year simulated.
        years: the number of calendar years simulated.
        months: simulate only the first ``months`` months of ``year`` (tiny test worlds);
            ``None`` simulates ``years`` whole years.
        climate: ``"temperate"``, ``"tropical"`` (wet/dry) or ``"snow"``; picks the location
            (UTM zone), seasons, cloudiness, snow line and crop calendar.
        tiles_per_side: the region is covered by ``tiles_per_side**2`` MGRS-like tiles.
        tile_overlap: pixels shared by neighbouring tiles (real HLS tiles overlap by ~9 %);
            an observation is written to every tile it touches, so it appears twice there.
            ``None``: ~10 % of a tile's width (26 px at 512 px, 2 tiles per side).
        side_orbits: add the adjacent Landsat path (7 days apart), whose swath edge crosses the
            region, so part of the region is observed twice as often (partial-swath granules).
        drop_rate: share of scheduled acquisitions that never reach the archive.
        cloud_scale: multiplies the climate's monthly cloud cover (0 = cloud-free world).
        haze_scale: multiplies the thin-haze (aerosol) optical depth.
        fmask_cloud_miss_rate: share of cloud pixels Fmask leaves unflagged (thin edges and
            whole small clouds).
        fmask_false_cloud_rate: share of bright clear pixels (snow, bare, built) Fmask flags as
            cloud.
        fmask_shadow_miss_rate: share of shadow pixels Fmask leaves unflagged.
        fmask_shadow_as_water_rate: share of shadow pixels Fmask flags as water, not shadow.
        fmask_adjacency_px: Fmask's dilation of cloud and shadow into the adjacency bit.
        noise_scale: multiplies sensor noise and within-class variability.
        psf_sigma: the sensor point-spread function in pixels (mixes pixels at class edges).
        events: simulate dated change events (forest clearing, construction, new cropland,
            flood).
        coastal: also write the coastal-aerosol band (B01).
        red_edge: S30 granules also carry Sentinel-2's red edge B05, B06, B07 and broad NIR
            B08, as real S30 granules do (Dynamic World reads them; L30 granules never have
            them). Off by default: the 4 extra COGs add ~28% to a world's writing time and
            ~29% to its size, and only Dynamic World needs them. The other bands and the
            Fmask are the same bytes either way.
        compress: the COG compression (``"DEFLATE"`` like HLS, ``"ZSTD"``, ``"LZW"``).
    """

    seed: int = 0
    size: int = 512
    year: int = 2024
    years: int = 1
    months: int | None = None
    climate: str = "temperate"
    tiles_per_side: int = 2
    tile_overlap: int | None = None
    side_orbits: bool = True
    drop_rate: float = 0.03
    cloud_scale: float = 1.0
    haze_scale: float = 1.0
    fmask_cloud_miss_rate: float = 0.06
    fmask_false_cloud_rate: float = 0.01
    fmask_shadow_miss_rate: float = 0.15
    fmask_shadow_as_water_rate: float = 0.15
    fmask_adjacency_px: int = 3
    noise_scale: float = 1.0
    psf_sigma: float = 0.45
    events: bool = True
    coastal: bool = True
    red_edge: bool = False
    compress: str = "DEFLATE"

    def __post_init__(self) -> None:
        if self.climate not in CLIMATES:
            raise ConfigError(
                f"unknown climate {self.climate!r}; use one of {', '.join(sorted(CLIMATES))}"
            )
        if not 32 <= self.size <= 3660:
            raise ConfigError(f"size {self.size} px is out of range; use 32..3660 (30 m pixels)")
        if self.tiles_per_side < 1 or self.overlap < 0:
            raise ConfigError("tiles_per_side must be >= 1 and tile_overlap >= 0")
        if self.tiles_per_side > 1 and self.overlap >= self.size // self.tiles_per_side:
            raise ConfigError(
                f"tile_overlap {self.overlap} px is too large for {self.tiles_per_side} "
                f"tiles per side on a {self.size} px region; lower it"
            )
        if self.years < 1 or not 1990 <= self.year <= 2100:
            raise ConfigError("years must be >= 1 and year a calendar year (1990..2100)")
        if self.months is not None and not 1 <= self.months <= 12:
            raise ConfigError(f"months {self.months} is out of range; use 1..12 or None")
        rates = {
            "drop_rate": self.drop_rate,
            "fmask_cloud_miss_rate": self.fmask_cloud_miss_rate,
            "fmask_false_cloud_rate": self.fmask_false_cloud_rate,
            "fmask_shadow_miss_rate": self.fmask_shadow_miss_rate,
            "fmask_shadow_as_water_rate": self.fmask_shadow_as_water_rate,
        }
        for name, value in rates.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} = {value} is not a rate; use a value in 0..1")
        if self.fmask_shadow_miss_rate + self.fmask_shadow_as_water_rate > 1.0:
            raise ConfigError("fmask_shadow_miss_rate + fmask_shadow_as_water_rate must be <= 1")
        if self.cloud_scale < 0 or self.haze_scale < 0 or self.noise_scale < 0:
            raise ConfigError("cloud_scale, haze_scale and noise_scale must be >= 0")
        if self.compress.upper() not in ("DEFLATE", "ZSTD", "LZW"):
            raise ConfigError(f"compress {self.compress!r}: use DEFLATE, ZSTD or LZW")

    @property
    def overlap(self) -> int:
        """The tile overlap in pixels (``tile_overlap`` or its default)."""
        if self.tile_overlap is not None:
            return self.tile_overlap
        # Real MGRS tiles overlap by ~9 % of their width (9.8 km of 109.8 km).
        return (
            max(2, round(0.1 * self.size / self.tiles_per_side)) if self.tiles_per_side > 1 else 0
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (the manifest's ``config``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys raise ConfigError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(
                f"unknown WorldConfig fields {sorted(unknown)}; this manifest was written by "
                "another hlsmap version - regenerate the world"
            )
        return cls(**data)
