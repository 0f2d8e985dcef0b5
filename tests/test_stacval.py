import datetime

import pystac
import pytest
from pystac.extensions.projection import ProjectionExtension

import stacval


def test_ok_and_bad():
    it = pystac.Item(
        "a",
        {"type": "Point", "coordinates": [0, 0]},
        [0, 0, 0, 0],
        datetime.datetime(2024, 1, 1),
        {},
    )
    ProjectionExtension.add_to(it)
    ProjectionExtension.ext(it).epsg = 32615
    ProjectionExtension.ext(it).shape = [10, 10]
    assert any("projection" in s for s in stacval.validate(it.to_dict()))
    d = it.to_dict()
    d["properties"]["proj:shape"] = "bad"
    with pytest.raises(pystac.STACValidationError):
        stacval.validate(d)


def test_strict_formats_are_checked() -> None:
    """A bare machine path as a link href is no IRI: strict validation refuses it (pystac's
    default validator, without format checks, accepts it)."""
    it = pystac.Item(
        "a",
        {"type": "Point", "coordinates": [0, 0]},
        [0, 0, 0, 0],
        datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        {},
    )
    d = it.to_dict(include_self_link=False)
    stacval.validate(d)
    d["links"] = [{"rel": "self", "href": "/home/me/out/a.json"}]
    with pytest.raises(pystac.STACValidationError, match="iri"):
        stacval.validate(d)
    d["links"] = [{"rel": "self", "href": "file:///home/me/out/a.json"}]
    stacval.validate(d)  # an IRI (still a machine path: hlsmap's catalogs have no self link)
    d["links"] = []
    d["properties"]["datetime"] = "2024-13-01T00:00:00Z"
    with pytest.raises(pystac.STACValidationError, match="date-time"):
        stacval.validate(d)
