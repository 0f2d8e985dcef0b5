"""The predict stopwatch records stage seconds only while enabled, summed per stage."""

from __future__ import annotations

import time

from hlsmap.inference import predict_profile as pp


def test_stages_are_recorded_only_when_enabled() -> None:
    pp.enable(False)
    with pp.stage("kernel"):
        pass
    pp.enable()
    try:
        assert pp.snapshot() == {}  # enabling clears the table; nothing recorded while off
        for _ in range(2):
            with pp.stage("kernel"):
                time.sleep(0.01)
        with pp.stage("uint8"):
            pass
        got = pp.snapshot()
        assert list(got) == ["kernel", "uint8"]
        assert got["kernel"][1] == 2 and got["kernel"][0] >= 0.02
        assert got["uint8"][1] == 1
    finally:
        pp.enable(False)
    with pp.stage("kernel"):
        time.sleep(0.001)
    assert pp.snapshot()["kernel"][1] == 2
