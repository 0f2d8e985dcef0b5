"""The Earthdata bearer token goes to NASA's hosts only (exact domains, https), and only with the
requests for them: two real servers on 127.0.0.1 record every Authorization header they get."""

from __future__ import annotations

import pytest
from fault_world import ReadsWorld, region_geobox

from hlsmap.access import earthdata_gdal_env, earthdata_origin, scope_earthdata_token
from hlsmap.cube import load_cube

import servers

NASA = "https://data.lpdaac.earthdatacloud.nasa.gov/lp-prod-protected/HLSS30.020/x.B04.tif"


@pytest.mark.parametrize(
    ("href", "origin"),
    [
        (NASA, "https://data.lpdaac.earthdatacloud.nasa.gov"),
        ("https://lpdaac.earthdata.nasa.gov/x.tif", "https://lpdaac.earthdata.nasa.gov"),
        ("https://urs.earthdata.nasa.gov/", "https://urs.earthdata.nasa.gov"),
        ("https://u:p@data.lpdaac.earthdatacloud.nasa.gov/x", "https://data.lpdaac.earthdatacloud.nasa.gov"),
        ("http://data.lpdaac.earthdatacloud.nasa.gov/x.tif", None),  # not over https
        ("https://lpdaac.attacker.example/x.tif", None),  # contains "lpdaac"
        ("https://cumulus.attacker.example/x.tif", None),
        ("https://earthdata.nasa.gov.attacker.example/x.tif", None),
        ("https://attacker-earthdata.nasa.gov.example/x.tif", None),
        ("https://evilearthdata.nasa.gov/x.tif", None),  # not a subdomain
        ("https://data.lpdaac.earthdatacloud.nasa.gov@attacker.example/x.tif", None),  # userinfo
        ("https://example.blob.core.windows.net/x.tif", None),
        ("/data/x.tif", None),
    ],
)  # fmt: skip
def test_only_nasa_hosts_over_https_get_the_token(href: str, origin: str | None) -> None:
    assert earthdata_origin(href) == origin


def test_no_global_token_header_for_a_batch_with_a_lookalike_host(monkeypatch) -> None:
    monkeypatch.setenv("EARTHDATA_TOKEN", "secret-token")
    hrefs = ["https://lpdaac.attacker.example/a.tif", "https://example.org/b.tif", NASA]
    assert "GDAL_HTTP_HEADERS" not in earthdata_gdal_env(hrefs)
    assert scope_earthdata_token(hrefs) == ["https://data.lpdaac.earthdatacloud.nasa.gov/"]


@pytest.mark.parametrize("reader", ["direct", "odc"])
def test_the_token_reaches_the_trusted_server_and_no_other(
    reads_world: ReadsWorld, monkeypatch, reader: str
) -> None:
    """One cube load reading granules from a trusted host (a listed mirror on loopback) and an
    untrusted one: the first gets the bearer token with every request, the second never."""
    with (
        servers.range_server(reads_world.root) as nasa,
        servers.range_server(reads_world.root) as other,
    ):
        monkeypatch.setenv("EARTHDATA_TOKEN", "secret-token")
        monkeypatch.setenv("HLSMAP_EARTHDATA_HOSTS", f"127.0.0.1:{nasa.server_address[1]}")
        mirror = reads_world.served(nasa)[:2]
        elsewhere = reads_world.served(other)[2:4]
        for item in elsewhere:  # the same machine under another name: another host
            for a in item.assets.values():
                a.href = a.href.replace("127.0.0.1", "localhost")
        cube = load_cube(mirror + elsewhere, geobox=region_geobox(), reader=reader)
        assert cube.sizes["time"] == 4
    assert nasa.auth_seen and other.auth_seen
    assert {a for _, a in nasa.auth_seen} == {"Bearer secret-token"}
    assert {a for _, a in other.auth_seen} == {None}


def test_a_lookalike_host_in_the_batch_leaks_no_token(reads_world: ReadsWorld, monkeypatch) -> None:
    """``lpdaac.localhost`` (curl resolves it to this machine) contains "lpdaac" but is not
    NASA's: neither it nor the other host of the same load gets the token."""
    with (
        servers.range_server(reads_world.root) as fake,
        servers.range_server(reads_world.root) as other,
    ):
        monkeypatch.setenv("EARTHDATA_TOKEN", "secret-token")
        lookalike = reads_world.served(fake)[:2]
        for item in lookalike:
            for a in item.assets.values():
                a.href = a.href.replace("127.0.0.1", "lpdaac.localhost")
        cube = load_cube(lookalike + reads_world.served(other)[2:4], geobox=region_geobox())
        assert cube.sizes["time"] == 4
    assert fake.auth_seen and other.auth_seen
    assert {a for _, a in fake.auth_seen} == {None}
    assert {a for _, a in other.auth_seen} == {None}
