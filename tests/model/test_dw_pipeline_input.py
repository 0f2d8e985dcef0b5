"""The pipeline's own input path for Dynamic World: a converted model's metadata normalizes
raw DN (HLS int16 reflectance = reflectance x 10,000) exactly as the reference inputs were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dwfixture import FIXTURES, FORWARD, GOLDEN, dw_predict, needs_fixtures

pytestmark = needs_fixtures


def test_converted_metadata_normalizes_dn_like_the_reference(tmp_path: Path) -> None:
    from hlsmap.model import read_metadata
    from hlsmap.model.dw_import import import_dynamicworld

    meta = read_metadata(import_dynamicworld(FORWARD, tmp_path / "dw", FIXTURES))
    with np.load(GOLDEN) as z:
        for name in ("random_odd", "bigearthnet"):
            dn, x, logits = z[f"{name}_dn"], z[f"{name}_x"], z[f"{name}_logits"]
            got = meta.normalize(dn)
            assert got.dtype == np.float32 and np.abs(got - x).max() <= 1e-6, name
            # HLS int16 reflectance as it comes out of the cube: the same DN, the same inputs
            as_int = meta.normalize(np.round(dn).astype(np.int16))
            np.testing.assert_allclose(as_int, meta.normalize(np.round(dn)), atol=1e-7)
            out = dw_predict()(got)
            assert np.abs(out - logits).max() <= 1e-4
            assert (out.argmax(-1) == logits.argmax(-1)).all()
    # fill (-9999) in any band zeroes every channel of that pixel, as the contract says
    px = np.full((1, 2, 9), 1000, np.int16)
    px[0, 1, 4] = -9999
    out = meta.normalize(px)
    assert (out[0, 1] == 0).all() and (out[0, 0] > 0).all()
