"""Change and alert products: what ``hlsmap change`` and ``hlsmap alerts`` call.

``run_change`` (block by block: bounded memory whatever the maps' size) writes
``OUT/hlsmap-change-<before>-<after>/``: ``transitions.tif`` (``from * 10
+ to``, 0 no data, with the transition class list in STAC), one ``<layer>.tif`` per named change
(1 change, 0 none, 255 no data), ``matrix.json``/``matrix.csv`` (hectares), ``quicklook.png``
(the new class where the map changed) and the STAC item and collection.

``run_alerts`` writes ``OUT/hlsmap-alerts/``: ``alert.tif`` (the new class where confirmed, with
the colour table), ``status.tif`` (0 none, 1 candidate, 2 confirmed, 3 ended),
``first_date.tif``, ``confirmed_date.tif``, ``class_date.tif`` and ``ended_date.tif`` (int32
days since 1970-01-01, 0 none),
``confidence.tif``, ``alerts.json`` (counts and hectares per kind), ``quicklook.png``; and,
when ``state`` is given, saves the streaming state there so the next run continues with newer
observations only. Only pixels the baseline map is sure of alert (its ``confidence.tif``, found
next to ``class.tif`` as ``hlsmap consensus`` writes them, at ``min_baseline_conf``; see
:mod:`hlsmap.alerts` for why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hlsmap.alerts import ALERT_KINDS, AlertState, day_number
from hlsmap.change import NAMED_CHANGES, compute_change, hectares_per_pixel, mmu_pixels
from hlsmap.change_rule import CHANGE_THRESHOLD, TYPE_TEXT, change_confidence, decide_change
from hlsmap.classes import NODATA, SURFACE_CLASSES
from hlsmap.errors import ConfigError
from hlsmap.outputs import cog, pam, quicklook, stac, stats
from hlsmap.outputs.atomic import write_text
from hlsmap.outputs.blocks import Decimator, Window, block_windows
from hlsmap.outputs.provenance import DEFAULT_LICENSE, Provenance

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
    """Inputs of ``hlsmap change``: two class maps on one grid, the minimum mapping unit
    (``mmu`` pixels, or ``mmu_ha`` hectares when set) and the products' licence.

    With ``evidence`` the maps' ``confidence.tif`` and ``n_valid.tif`` (next to each
    ``class.tif``) and the ``later`` class maps (periods after the change, e.g. the after
    year's seasons) decide which flips are change (:mod:`hlsmap.change_rule`, at
    ``threshold`` percent); without, every flip the MMU keeps is change."""

    before: Path
    after: Path
    out_dir: Path
    mmu: int = 1
    mmu_ha: float | None = None
    connectivity: int = 8
    blocksize: int = 512
    license: str = DEFAULT_LICENSE
    threshold: int = CHANGE_THRESHOLD
    evidence: bool = True
    later: Sequence[Path] = ()


EVIDENCE_LAYERS = ("confidence", "n_valid")
"""Quality layers of a class map that the change rule reads, found next to its ``class.tif``."""


def evidence_paths(class_map: Path) -> dict[str, Path]:
    """The quality layers ``hlsmap consensus`` / ``hlsmap map`` write next to ``class.tif``
    (``confidence.tif``, ``n_valid.tif``) that exist."""
    found = {}
    for name in EVIDENCE_LAYERS:
        p = Path(class_map).with_name(f"{name}.tif")
        if p.exists() and p != Path(class_map):
            found[name] = p
    return found


TRANSITIONS = pam.transition_categories()
"""Categories of ``transitions.tif`` (every from-to pair; names, colours in the COG and STAC)."""


def transition_classes() -> list[dict[str, Any]]:
    """``classification:classes`` for the transition raster (every from-to pair)."""
    return [c.to_dict() for c in stac.classifications(TRANSITIONS)]


def named_categories(name: str) -> list[pam.Category]:
    """Categories of a named change layer (``tree_loss.tif``...: 1 change, 0 none, 255 no
    data)."""
    text = name.replace("_", " ")
    return pam.flag_categories(name, text[:1].upper() + text[1:], f"No {text}")


def _label(path: str | Path) -> str:
    """A short name for a map file: its stem, or its folder's for ``hlsmap-<period>/class.tif``."""
    p = Path(path)
    if p.stem == "class":
        return p.parent.name.removeprefix("hlsmap-")
    return p.stem


def _period_tag(tags: dict[str, str], key: str, fallback: str) -> str:
    return tags.get(key) or fallback


def run_change(cfg: ChangeConfig) -> Any:
    """Compare two class maps; write the change products; return the STAC item.

    The maps are read, compared and written window by window (``blocksize``): memory is bounded
    by a window and the minimum mapping unit, not the maps (:func:`change_blocks`). With
    evidence (:attr:`ChangeConfig.evidence`) also ``change_confidence.tif`` (percent, 0 no
    flip, 255 no data), ``land_cover_change.tif`` (the decided change that is not rotation) and
    ``change_stats.json`` (hectares per change type).
    """
    import contextlib

    import rasterio

    gb_a, tags_a = _grid(cfg.before)
    gb_b, tags_b = _grid(cfg.after)
    if gb_a != gb_b:
        raise ConfigError(
            f"{cfg.before} and {cfg.after} are on different grids; map both on one grid"
        )
    ev_paths: dict[str, Path] = {}
    later = [Path(p) for p in cfg.later] if cfg.evidence else []
    if cfg.evidence:
        for side, path in (("before", cfg.before), ("after", cfg.after)):
            ev_paths.update({f"{k}_{side}": v for k, v in evidence_paths(path).items()})
    for p in [*ev_paths.values(), *later]:
        if _grid(p)[0] != gb_a:
            raise ConfigError(f"{p} is not on the maps' grid; give layers written with the maps")
    use_rule = bool(ev_paths or later)
    mmu = mmu_pixels(cfg.mmu_ha, gb_a) if cfg.mmu_ha is not None else int(cfg.mmu)
    name = f"hlsmap-change-{_label(cfg.before)}-{_label(cfg.after)}"
    d = Path(cfg.out_dir) / name
    layers: dict[str, dict[str, Any]] = {
        "transitions": cog.categorical_options(TRANSITIONS, 0, "from*10+to"),
        **{k: cog.categorical_options(named_categories(k), 255, k) for k in NAMED_CHANGES},
    }
    if use_rule:
        layers["land_cover_change"] = cog.categorical_options(
            named_categories("land_cover_change"), 255, "land_cover_change"
        )
    pairs = np.zeros((len(SURFACE_CLASSES),) * 2, np.int64)
    changed = 0
    named = dict.fromkeys([*NAMED_CHANGES, *(["land_cover_change"] if use_rule else [])], 0)
    shape = (int(gb_a.shape[0]), int(gb_a.shape[1]))
    thumb = Decimator(shape, 1024, np.uint8)
    with contextlib.ExitStack() as stack:
        src_a = stack.enter_context(rasterio.open(cfg.before))
        src_b = stack.enter_context(rasterio.open(cfg.after))
        ev = {k: stack.enter_context(rasterio.open(v)) for k, v in ev_paths.items()}
        later_src = [stack.enter_context(rasterio.open(p)) for p in later]
        writers = {
            k: stack.enter_context(cog.cog_stream(d / f"{k}.tif", gb_a, np.uint8,
                                                  blocksize=cfg.blocksize, **opts))
            for k, opts in layers.items()
        }  # fmt: skip
        conf_w = None
        if use_rule:
            conf_w = stack.enter_context(
                cog.cog_stream(d / "change_confidence.tif", gb_a, np.uint8,
                               blocksize=cfg.blocksize, nodata=255, resampling="nearest",
                               description="change_confidence", units="%")
            )  # fmt: skip
        blocks = change_blocks(
            src_a, src_b, mmu, cfg.connectivity, cfg.blocksize,
            evidence=ev if use_rule else None, later=later_src, threshold=cfg.threshold,
        )  # fmt: skip
        for window, t, masks in blocks:
            writers["transitions"].write(window, t)
            nodata = t == 0
            conf = masks.pop("change_confidence", None)
            if conf_w is not None and conf is not None:
                conf_w.write(window, conf)
            for layer, mask in masks.items():
                writers[layer].write(window, np.where(nodata, 255, mask).astype(np.uint8))
                named[layer] += int(mask.sum())
            moved = (t != 0) & (t // 10 != t % 10)
            changed += int(moved.sum())
            pairs += stats.transition_counts(t)
            thumb.add(window, np.where(moved, t % 10, NODATA).astype(np.uint8))
    cogs = {k: w.path for k, w in writers.items()}
    if conf_w is not None:
        cogs["change_confidence"] = conf_w.path
    ha = hectares_per_pixel(gb_a)
    mj, mc = stats.write_transition_matrix(d / "matrix", pairs * ha)
    png = quicklook.class_png(d / "quicklook.png", thumb.array, title="New class where changed")
    start = _period_tag(tags_a, "start", "1970-01-01")
    end = _period_tag(tags_b, "end", start)
    props: dict[str, Any] = {
        "hlsmap:mmu_pixels": mmu,
        "hlsmap:changed_hectares": round(float(changed) * ha, 4),
        **{f"hlsmap:{k}_hectares": round(float(v) * ha, 4) for k, v in named.items()},
    }
    extra = {
        "matrix_json": stac.file_asset(mj, "application/json", d, ("metadata",), "matrix"),
        "matrix_csv": stac.file_asset(mc, "text/csv", d, ("metadata",), "matrix"),
        "quicklook": stac.file_asset(png, "image/png", d, ("overview",), "quicklook"),
    }
    if use_rule:
        props["hlsmap:change_threshold"] = int(cfg.threshold)
        props["hlsmap:change_evidence"] = sorted(ev_paths) + (["persistence"] if later else [])
        summary = {
            "threshold_percent": int(cfg.threshold),
            "evidence": props["hlsmap:change_evidence"],
            "later_maps": [str(p) for p in later],
            "mmu_pixels": mmu,
            "pixel_hectares": ha,
            "changed_hectares": props["hlsmap:changed_hectares"],
            "types": {
                k: {"hectares": round(float(named[k]) * ha, 4), "pixels": named[k],
                    "description": TYPE_TEXT.get(k, k.replace("_", " "))}
                for k in named
            },
        }  # fmt: skip
        sj = write_text(d / "change_stats.json", json.dumps(summary, indent=2) + "\n")
        extra["change_stats"] = stac.file_asset(
            sj, "application/json", d, ("metadata",), "change statistics (hectares per type)"
        )
    categories = {k: opts["categories"] for k, opts in layers.items()}
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
        categories=categories,
        provenance=Provenance(license=cfg.license),
    )
    stac.write_catalog(
        cfg.out_dir, [item], collection_id="hlsmap-change", title="hlsmap change maps",
        license=cfg.license,
    )  # fmt: skip
    return item


def _grid(path: str | Path) -> tuple[Any, dict[str, str]]:
    """The GeoBox and tags of a map file, without reading its pixels."""
    import rasterio
    from odc.geo.geobox import GeoBox

    from hlsmap.errors import CorruptRasterError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise CorruptRasterError(f"{path} has no CRS; write maps with hlsmap or GDAL")
            return GeoBox((src.height, src.width), src.transform, src.crs.to_wkt()), src.tags()
    except rasterio.errors.RasterioIOError as exc:
        raise CorruptRasterError(f"cannot read {path}: {exc}; check the path") from exc


def change_blocks(
    before: Any,
    after: Any,
    mmu: int = 1,
    connectivity: int = 8,
    blocksize: int = 512,
    *,
    evidence: dict[str, Any] | None = None,
    later: Sequence[Any] = (),
    threshold: int = CHANGE_THRESHOLD,
) -> Iterator[tuple[Window, np.ndarray, dict[str, np.ndarray]]]:
    """:func:`hlsmap.change.compute_change` of two maps, one window at a time.

    Args:
        before, after: open rasterio datasets (band 1: class codes) on one grid.
        mmu, connectivity: as for ``compute_change``.
        blocksize: side of the windows.
        evidence: open datasets of the quality layers, keyed ``confidence_before``,
            ``confidence_after``, ``n_valid_before``, ``n_valid_after`` (any subset); with it
            (or ``later``) only the flips whose :func:`hlsmap.change_rule.change_confidence`
            reaches ``threshold`` are change, and the masks also hold ``change_confidence``
            (uint8 percent) and ``land_cover_change`` (the change that is not rotation).
        later: open datasets of class maps of periods after the change (persistence).
        threshold: the change threshold in percent.

    Yields:
        ``(window, transitions, {named layer: mask})`` of each window; together, exactly the
        whole-map result. With a minimum mapping unit each window is compared with a margin of
        ``2 * mmu + 2`` pixels: a changed patch smaller than ``mmu`` pixels spans fewer than
        ``mmu`` pixels, so every patch that decides a pixel of the window is seen whole (or
        is seen to be at least ``mmu`` pixels), and the MMU removes what it would remove
        from the whole map.
    """
    h, w = before.height, before.width
    margin = 0 if mmu <= 1 else 2 * mmu + 2
    use_rule = evidence is not None or bool(later)
    ev = evidence or {}
    for window in block_windows((h, w), blocksize):
        r, c, bh, bw = window
        r0, c0 = max(r - margin, 0), max(c - margin, 0)
        r1, c1 = min(r + bh + margin, h), min(c + bw + margin, w)
        box = ((r0, r1), (c0, c1))
        a, b = before.read(1, window=box), after.read(1, window=box)
        conf = decided = None
        if use_rule:
            q = {k: src.read(1, window=box) for k, src in ev.items()}
            conf = change_confidence(
                a, b, q.get("confidence_before"), q.get("confidence_after"),
                q.get("n_valid_before"), q.get("n_valid_after"),
                later=[src.read(1, window=box) for src in later],
            )  # fmt: skip
            decided = decide_change(conf, threshold)
        res = compute_change(a, b, None, mmu, connectivity, decided=decided)
        core = (slice(r - r0, r - r0 + bh), slice(c - c0, c - c0 + bw))
        masks = {k: v[core] for k, v in res.layers.items()}
        if conf is not None:
            masks["land_cover_change"] = (res.changed & ~res.layers["rotation"])[core]
            masks["change_confidence"] = conf[core]
        yield window, res.transitions[core], masks


@dataclass
class AlertsConfig:
    """Inputs of ``hlsmap alerts``: predictions stores, a baseline class map on their grid and
    the confirmation rule (``k`` of the last ``n`` valid observations at ``min_prob``).

    ``baseline_confidence`` is the baseline's confidence layer (percent); ``None`` takes the
    ``confidence.tif`` next to the baseline when there is one (``hlsmap consensus`` output),
    else every mapped baseline pixel counts as known. Pixels below ``min_baseline_conf`` (0..1)
    never alert.
    """

    predictions: Sequence[Path]
    baseline: Path
    out_dir: Path
    k: int = 3
    n: int = 4
    min_prob: float = 0.7
    baseline_confidence: Path | None = None
    min_baseline_conf: float = 0.7
    since: str | None = None
    state: Path | None = None
    blocksize: int = 512
    progress: bool = True


def baseline_confidence_path(baseline: Path, given: Path | None = None) -> Path | None:
    """The confidence layer of a baseline map: ``given``, else the ``confidence.tif`` that
    ``hlsmap consensus`` writes next to ``class.tif``, else ``None``."""
    if given is not None:
        return Path(given)
    sibling = Path(baseline).with_name("confidence.tif")
    return sibling if sibling.exists() and sibling != Path(baseline) else None


def run_alerts(cfg: AlertsConfig) -> Any:
    """Stream observations (time order) through the alert state; write the alert products."""
    from hlsmap.outputs.maps import observations, open_stores

    stores, geobox = open_stores(list(cfg.predictions))
    base, gb, _ = cog.read_cog(cfg.baseline)
    if gb != geobox:
        raise ConfigError(f"the baseline {cfg.baseline} is not on the predictions' grid")
    conf_path = baseline_confidence_path(cfg.baseline, cfg.baseline_confidence)
    conf = None
    if conf_path is not None:
        conf, cgb, _ = cog.read_cog(conf_path)
        if cgb != geobox:
            raise ConfigError(
                f"the baseline confidence {conf_path} is not on the baseline's grid; give the "
                "confidence.tif written with the baseline map"
            )
    if cfg.state is not None and Path(cfg.state).exists():
        state = AlertState.load(cfg.state, geobox=geobox)
        if not np.array_equal(state.baseline, base):
            raise ConfigError(f"{cfg.state} was made with another baseline; delete it or move it")
    else:
        state = AlertState(
            base,
            k=cfg.k,
            n=cfg.n,
            min_prob=cfg.min_prob,
            since=cfg.since,
            geobox=geobox,
            baseline_confidence=conf,
            min_baseline_conf=cfg.min_baseline_conf,
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
    days = "days since 1970-01-01"
    for name, nodata, units in (
        ("status", None, None),
        ("first_date", 0, days),
        ("confirmed_date", 0, days),
        ("class_date", 0, days),
        ("ended_date", 0, days),
        ("confidence", None, "%"),
    ):
        cogs[name] = cog.write_cog(
            d / f"{name}.tif",
            res[name].values,
            geobox,
            nodata=nodata,
            resampling="nearest",
            description=name,
            blocksize=cfg.blocksize,
            units=units,
        )
    ha = hectares_per_pixel(geobox)
    kinds = state.kinds()
    summary = {
        "k": state.k,
        "n": state.n,
        "min_prob": state.min_prob,
        "baseline_confidence": None if conf_path is None else str(conf_path),
        "min_baseline_conf": state.min_baseline_conf,
        "eligible_pixels": int(state.eligible.sum()),
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
    props = {
        f"hlsmap:{k}": v for k, v in summary.items() if k not in ("kinds", "baseline_confidence")
    }
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
