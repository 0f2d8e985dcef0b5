"""The registry: lookups, errors that list what is known, register_sensor, entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import hlsmap.sensors.registry as registry_mod
from hlsmap.errors import ConfigError, UnknownCollectionError, UnknownSensorError
from hlsmap.sensors import (
    BandSpec,
    Sensor,
    get_sensor,
    list_sensors,
    register_sensor,
    sensor_for_collection,
    sensor_for_item,
)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry rebuilt from scratch (built-ins + entry points), restored afterwards."""
    monkeypatch.setattr(registry_mod, "_REGISTRY", None)
    yield


class Toy(Sensor):
    name = "TOY"
    title = "toy"
    collections = {"pc": "toy-l2"}
    bands = {"red": BandSpec(asset="r", dtype="uint16", nodata=0, scale=1e-4)}


def test_builtins_and_case_insensitive_lookup(fresh_registry: None) -> None:
    assert list_sensors()[:4] == ["L30", "S30", "S2L2A", "LC2L2"]
    assert get_sensor("l30") is get_sensor("L30")
    assert get_sensor(get_sensor("S30")) is get_sensor("S30")


def test_unknown_sensor_lists_known(fresh_registry: None) -> None:
    with pytest.raises(UnknownSensorError) as err:
        get_sensor("L31")
    msg = str(err.value)
    assert "'L31'" in msg and "L30, S30, S2L2A, LC2L2" in msg and "register_sensor" in msg
    assert isinstance(err.value, KeyError)


@pytest.mark.parametrize(
    "collection,name",
    [
        ("hls2-l30", "L30"),
        ("HLSL30_2.0", "L30"),
        ("hls2-s30", "S30"),
        ("HLSS30_2.0", "S30"),
        ("sentinel-2-l2a", "S2L2A"),
        ("landsat-c2-l2", "LC2L2"),
    ],
)
def test_sensor_for_collection(fresh_registry: None, collection: str, name: str) -> None:
    assert sensor_for_collection(collection).name == name
    assert sensor_for_item({"collection": collection}).name == name


def test_unknown_collection_lists_known(fresh_registry: None) -> None:
    with pytest.raises(UnknownCollectionError, match="'hls2-x30'.*hls2-l30.*sentinel-2-l2a"):
        sensor_for_collection("hls2-x30")


def test_register_sensor_rules(fresh_registry: None) -> None:
    assert register_sensor(Toy) is Toy  # a class works, and it decorates
    assert get_sensor("toy").collections["pc"] == "toy-l2"
    with pytest.raises(ConfigError, match="already registered"):
        register_sensor(Toy())
    register_sensor(Toy(), overwrite=True)

    class Thief(Toy):
        name = "THIEF"
        collections = {"pc": "hls2-l30"}

    with pytest.raises(ConfigError, match="hls2-l30 already read by L30"):
        register_sensor(Thief())
    register_sensor(Thief(), overwrite=True)  # takes the collection over
    assert sensor_for_collection("hls2-l30").name == "THIEF"
    with pytest.raises(ConfigError, match="is not a sensor adapter"):
        register_sensor(object())


def _write_dist(root: Path, module: str, entry_points: str) -> None:
    (root / module).mkdir()
    (root / module / "__init__.py").write_text(
        textwrap.dedent(
            """
            from hlsmap.sensors import BandSpec, Sensor

            class Plug(Sensor):
                name = "PLUG"
                title = "plugin sensor"
                collections = {"pc": "plug-l2"}
                bands = {"red": BandSpec(asset="red")}

            def two():
                class Plug2(Plug):
                    name = "PLUG2"
                    collections = {"pc": "plug2-l2"}
                class Plug3(Plug):
                    name = "PLUG3"
                    collections = {"pc": "plug3-l2"}
                return [Plug2(), Plug3()]

            def boom():
                raise RuntimeError("plugin exploded")
            """
        )
    )
    dist = root / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)


def test_entry_point_plugins_load_lazily(
    fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "hlsmap_fake_plugin"
    _write_dist(
        tmp_path,
        module,
        f"[hlsmap.sensors]\nplug = {module}:Plug\nmore = {module}:two\n"
        f"broken = {module}.missing:Nope\nboom = {module}:boom\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.warns(RuntimeWarning) as warned:
        names = list_sensors()
    assert {"PLUG", "PLUG2", "PLUG3"} <= set(names)
    messages = " ".join(str(w.message) for w in warned)
    assert "'broken'" in messages and "'boom'" in messages and "plugin exploded" in messages
    assert "L30" in names  # a broken plugin breaks nothing else
    assert sensor_for_collection("plug3-l2").name == "PLUG3"
    out = get_sensor("plug").harmonize("red", np.array([-9999, 5], np.int16), {})
    assert out.tolist() == [-9999, 5]
    assert module in sys.modules
    monkeypatch.delitem(sys.modules, module)


def test_plugins_not_loaded_before_first_access(
    fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(registry_mod, "entry_points", lambda group: calls.append(group) or [])
    registry_mod.registry()  # building the registry alone reads no entry points
    assert calls == []
    list_sensors()
    list_sensors()
    assert calls == ["hlsmap.sensors"]  # once, on first access
