"""Change and alert products: what ``hlsmap change`` and ``hlsmap alerts`` call.

``run_change`` writes ``OUT/hlsmap-change-<before>-<after>/``: ``transitions.tif`` (``from * 10
+ to``, 0 no data, with the transition class list in STAC), one ``<layer>.tif`` per named change
(1 change, 0 none, 255 no data), ``matrix.json``/``matrix.csv`` (hectares), ``quicklook.png``
(the new class where the map changed) and the STAC item and collection.

``run_alerts`` writes ``OUT/hlsmap-alerts/``: ``alert.tif`` (the new class where confirmed, with
the colour table), ``status.tif`` (0 none, 1 candidate, 2 confirmed, 3 ended),
``first_date.tif``, ``confirmed_date.tif``, ``class_date.tif`` and ``ended_date.tif`` (int32
days since 1970-01-01, 0 none),
``confidence.tif``, ``alerts.json`` (counts and hectares per kind), ``quicklook.png``; and,
when ``state`` is given, saves the streaming state there so the next run continues with newer
observations only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.alerts import ALERT_KINDS, AlertState, day_number
from hlsmap.change import NAMED_CHANGES, compute_change, hectares_per_pixel, mmu_pixels
from hlsmap.classes import NODATA, SURFACE_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.outputs import cog, quicklook, stac, stats
from hlsmap.outputs.atomic import write_text

KIND_TEXT = {
    "tree_loss": "trees in the baseline, another class now",
    "new_built": "built area now, another class in the baseline",
    "cropland_gain": "crops now, another class in the baseline",
    "cropland_loss": "crops in the baseline, another class now",
    "water_gain": "water or flooded vegetation now (a flood counts here only)",
    "water_loss": "water in the baseline, another class now",
}
assert set(KIND_TEXT) == set(ALERT_KINDS) <= set(NAMED_CHANGES)


@dataclass
class ChangeConfig:
    """Inputs of ``hlsmap change``: two class maps on one grid and the minimum mapping unit
    (``mmu`` pixels, or ``mmu_ha`` hectares when set)."""

    before: Path
    after: Path
    out_dir: Path
    mmu: int = 1
    mmu_ha: float | None = None
    connectivity: int = 8
    blocksize: int = 512


def transition_classes() -> list[dict[str, Any]]:
    """``classification:classes`` for the transition raster (every from-to pair)."""
    out: list[dict[str, Any]] = [
        {"value": 0, "name": "no_data", "description": "No data", "nodata": True}
    ]
    for a in SURFACE_CLASSES:
        for b in SURFACE_CLASSES:
            out.append(
                {
                    "value": a.code * 10 + b.code,
                    "name": f"{a.name}_to_{b.name}" if a != b else f"{a.name}_unchanged",
                    "description": f"{a.title} to {b.title}" if a != b else f"{a.title}",
                }
            )
    return out


def _label(path: str | Path) -> str:
    """A short name for a map file: its stem, or its folder's for ``hlsmap-<period>/class.tif``."""
    p = Path(path)
    if p.stem == "class":
        return p.parent.name.removeprefix("hlsmap-")
    return p.stem


def _period_tag(tags: dict[str, str], key: str, fallback: str) -> str:
    return tags.get(key) or fallback


def run_change(cfg: ChangeConfig) -> Any:
    """Compare two class maps; write the change products; return the STAC item."""
    a, gb_a, tags_a = cog.read_cog(cfg.before)
    b, gb_b, tags_b = cog.read_cog(cfg.after)
    if gb_a != gb_b:
        raise ConfigError(
            f"{cfg.before} and {cfg.after} are on different grids; map both on one grid"
        )
    mmu = mmu_pixels(cfg.mmu_ha, gb_a) if cfg.mmu_ha is not None else int(cfg.mmu)
    res = compute_change(a, b, gb_a, mmu=mmu, connectivity=cfg.connectivity)
    name = f"hlsmap-change-{_label(cfg.before)}-{_label(cfg.after)}"
    d = Path(cfg.out_dir) / name
    cogs = {
        "transitions": cog.write_cog(
            d / "transitions.tif",
            res.transitions,
            gb_a,
            nodata=0,
            resampling="mode",
            description="from*10+to",
            blocksize=cfg.blocksize,
        )
    }
    nodata = res.transitions == 0
    for layer, mask in res.layers.items():
        v = np.where(nodata, 255, mask).astype(np.uint8)
        cogs[layer] = cog.write_cog(
            d / f"{layer}.tif",
            v,
            gb_a,
            nodata=255,
            resampling="mode",
            description=layer,
            blocksize=cfg.blocksize,
        )
    assert res.matrix is not None
    mj, mc = stats.write_transition_matrix(d / "matrix", res.matrix)
    shown = np.where(res.changed, res.transitions % 10, NODATA).astype(np.uint8)
    png = quicklook.class_png(d / "quicklook.png", shown, title="New class where changed")
    start = _period_tag(tags_a, "start", "1970-01-01")
    end = _period_tag(tags_b, "end", start)
    ha = hectares_per_pixel(gb_a)
    props = {
        "hlsmap:mmu_pixels": mmu,
        "hlsmap:changed_hectares": round(float(res.changed.sum()) * ha, 4),
        **{f"hlsmap:{k}_hectares": round(float(v.sum()) * ha, 4) for k, v in res.layers.items()},
    }
    extra = {
        "matrix_json": stac.file_asset(mj, "application/json", d, ("metadata",), "matrix"),
        "matrix_csv": stac.file_asset(mc, "text/csv", d, ("metadata",), "matrix"),
        "quicklook": stac.file_asset(png, "image/png", d, ("overview",), "quicklook"),
    }
    item = stac.item_for_cog(
        name,
        cogs,
        gb_a,
        start,
        end,
        item_dir=d,
        classified=(),
        properties=props,
        extra_assets=extra,
    )
    item.assets["transitions"].extra_fields["classification:classes"] = transition_classes()
    item.stac_extensions.append(stac.CLASSIFICATION)
    stac.write_catalog(
        cfg.out_dir, [item], collection_id="hlsmap-change", title="hlsmap change maps"
    )
    return item


@dataclass
class AlertsConfig:
    """Inputs of ``hlsmap alerts``: predictions stores, a baseline class map on their grid and
    the confirmation rule (``k`` of the last ``n`` valid observations at ``min_prob``)."""

    predictions: Sequence[Path]
    baseline: Path
    out_dir: Path
    k: int = 3
    n: int = 4
    min_prob: float = 0.7
    since: str | None = None
    state: Path | None = None
    blocksize: int = 512
    progress: bool = True


def run_alerts(cfg: AlertsConfig) -> Any:
    """Stream observations (time order) through the alert state; write the alert products."""
    from hlsmap.outputs.maps import observations, open_stores

    stores, geobox = open_stores(list(cfg.predictions))
    base, gb, _ = cog.read_cog(cfg.baseline)
    if gb != geobox:
        raise ConfigError(f"the baseline {cfg.baseline} is not on the predictions' grid")
    if cfg.state is not None and Path(cfg.state).exists():
        state = AlertState.load(cfg.state, geobox=geobox)
        if not np.array_equal(state.baseline, base):
            raise ConfigError(f"{cfg.state} was made with another baseline; delete it or move it")
    else:
        state = AlertState(
            base, k=cfg.k, n=cfg.n, min_prob=cfg.min_prob, since=cfg.since, geobox=geobox
        )
    resume_after = state.last_day
    used = 0
    for obs in observations(stores, sort=True, progress=cfg.progress):
        if resume_after is not None and day_number(obs.time) <= resume_after:
            continue  # seen by an earlier run
        state.update(obs.probs, obs.valid, obs.time)
        used += state.since is None or day_number(obs.time) >= state.since
    if state.last_day is None:
        raise ConfigError("no observations to check; give predictions stores with observations")
    if cfg.state is not None:
        state.save(cfg.state)
    res = state.result()
    d = Path(cfg.out_dir) / "hlsmap-alerts"
    cogs = {
        "alert": cog.write_class_cog(
            d / "alert.tif", res["alert"].values, geobox, blocksize=cfg.blocksize
        )
    }
    for name, nodata in (
        ("status", None),
        ("first_date", 0),
        ("confirmed_date", 0),
        ("class_date", 0),
        ("ended_date", 0),
        ("confidence", None),
    ):
        cogs[name] = cog.write_cog(
            d / f"{name}.tif",
            res[name].values,
            geobox,
            nodata=nodata,
            resampling="nearest",
            description=name,
            blocksize=cfg.blocksize,
        )
    ha = hectares_per_pixel(geobox)
    kinds = state.kinds()
    summary = {
        "k": state.k,
        "n": state.n,
        "min_prob": state.min_prob,
        "observations_used": used,
        "observations_total": state.n_updates,
        "last_date": str(np.datetime64(state.last_day, "D")),
        "confirmed_pixels": int((res["alert"].values > 0).sum()),
        "active_pixels": int(state.active().sum()),
        "candidate_pixels": int((res["status"].values == 1).sum()),
        "kinds": {
            k: {
                "pixels": int(v.sum()),
                "hectares": round(float(v.sum()) * ha, 4),
                "description": KIND_TEXT[k],
            }
            for k, v in kinds.items()
        },
    }
    sj = write_text(d / "alerts.json", json.dumps(summary, indent=2))
    png = quicklook.class_png(d / "quicklook.png", res["alert"].values, title="Confirmed alerts")
    extra = {
        "summary": stac.file_asset(sj, "application/json", d, ("metadata",), "summary"),
        "quicklook": stac.file_asset(png, "image/png", d, ("overview",), "quicklook"),
    }
    props = {f"hlsmap:{k}": v for k, v in summary.items() if k != "kinds"}
    item = stac.item_for_cog(
        "hlsmap-alerts",
        cogs,
        geobox,
        np.datetime64(state.last_day, "D"),
        item_dir=d,
        classified=("alert",),
        properties=props,
        extra_assets=extra,
    )
    stac.write_catalog(
        cfg.out_dir, [item], collection_id="hlsmap-alerts", title="hlsmap near-real-time alerts"
    )
    return item
