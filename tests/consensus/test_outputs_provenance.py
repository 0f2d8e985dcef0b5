"""What the STAC of a run credits: data providers per source, source granules without machine
paths, the model's name/version/licence."""

from __future__ import annotations

import datetime as dt

import pystac

from hlsmap.outputs.provenance import Provenance, granules, model_info, source_providers


def test_providers_per_source() -> None:
    pc = source_providers("pc")
    assert [p.name for p in pc] == ["NASA LP DAAC", "Microsoft Planetary Computer"]
    assert "host" in source_providers("nasa")[0].roles
    api = source_providers("https://stac.example.org/v1")
    assert [(p.name, p.url) for p in api] == [("stac.example.org", "https://stac.example.org/")]
    for local in ("http://127.0.0.1:8080/", "http://localhost/stac", "catalog.json", None):
        assert source_providers(local) == []  # nothing anyone else could credit
    assert [p.name for p in Provenance().all_providers()] == ["hlsmap"]


def _item(i: int, href: str) -> pystac.Item:
    when = dt.datetime(2024, 1 + i, 5, tzinfo=dt.UTC)
    item = pystac.Item(f"g{i}", {"type": "Point", "coordinates": [0, 0]}, [0, 0, 0, 0], when, {})
    item.set_self_href(href)
    return item


def test_granules_keep_public_urls_only() -> None:
    items = [_item(1, "https://stac.example.org/items/g1"), _item(0, "/home/me/items/g0.json")]
    gs = granules(items)
    assert [g.id for g in gs] == ["g0", "g1"]  # in time order
    prov = Provenance(sources=gs)
    assert [lk.href for lk in prov.links()] == ["https://stac.example.org/items/g1"]
    assert prov.properties()["hlsmap:source_granules"] == ["g0", "g1"]
    feb = prov.within("2024-02-01", "2024-02-29")
    assert feb.properties()["hlsmap:source_granules"] == ["g1"]
    assert prov.within("2024-01-01", "2024-12-31", months=[1]).sources == gs[:1]
    assert "hlsmap:source_granules" not in Provenance().properties()  # unknown, not "none"


def test_model_info(tmp_path) -> None:
    from hlsmap.model import PRESETS, ModelMetadata, build_model, save_model
    from hlsmap.sensors import BANDS

    norm = {s: {"mean": [0.1] * len(BANDS), "std": [0.1] * len(BANDS)} for s in ("L30", "S30")}
    facts = {"name": "lulc", "version": "2.1", "license": "CC-BY-4.0"}
    meta = ModelMetadata(
        bands=BANDS, normalization=norm, config=PRESETS["tiny"], preset="tiny", provenance=facts
    )
    save_model(tmp_path / "m", build_model("tiny"), meta)
    info = model_info(tmp_path / "m")
    assert (info["hlsmap:model_name"], info["hlsmap:model_version"]) == ("lulc", "2.1")
    assert info["hlsmap:model_license"] == "CC-BY-4.0"
    assert info["hlsmap:model_architecture"] == "unet"
