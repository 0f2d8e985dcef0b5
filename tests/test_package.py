"""The package itself: light import, one namespace, the CLI's basics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import hlsmap
from hlsmap import classes


def test_import_hlsmap_does_not_import_jax() -> None:
    code = "import sys, hlsmap, hlsmap.classes, hlsmap.errors; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lazy_attribute_and_unknown_name() -> None:
    assert hlsmap.CLASSES[0].name == "water"
    try:
        hlsmap.not_a_thing  # noqa: B018
    except AttributeError as exc:
        assert "not_a_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_class_scheme_contract() -> None:
    assert [c.code for c in classes.CLASSES] == list(range(1, 11))
    assert len(classes.SURFACE_CLASSES) == 9
    assert classes.BY_CODE[10].name == "clouds"
    assert classes.BY_CODE[1].color == "#419BDF"
    cmap = classes.colormap()
    assert cmap[0][3] == 0 and cmap[2] == (0x39, 0x7D, 0x49, 255)
    v2 = classes.remap_v2(np.array([[3, 6], [1, 0]]))
    assert v2.tolist() == [[11, 11], [1, 0]]
    assert classes.index_to_code(classes.code_to_index(np.array([1, 10]))).tolist() == [1, 10]


def test_errors_subclass_builtins() -> None:
    from hlsmap import errors

    assert issubclass(errors.EmptySearchError, LookupError)
    assert issubclass(errors.InvalidDateRangeError, ValueError)
    assert issubclass(errors.RemoteError, OSError)
    assert str(errors.UnknownSensorError("no sensor 'X'")) == "no sensor 'X'"


def test_cli_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hlsmap", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"hlsmap {hlsmap.__version__}"


def test_every_public_name_resolves() -> None:
    for name in hlsmap.__all__:
        assert getattr(hlsmap, name) is not None, name
    assert "run_map" in dir(hlsmap)
