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
