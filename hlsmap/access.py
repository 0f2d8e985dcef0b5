"""How remote assets are reached: Planetary Computer signing, Earthdata credentials, GDAL HTTP.

Planetary Computer hrefs are signed at *read* time, not at search time: a SAS token lives about
45 minutes and a region run lives longer, so every read asks :class:`PCSigner` for a href, and
``planetary_computer``'s token cache hands out a fresh token once the old one has less than a
minute left. NASA's LP DAAC needs Earthdata Login: GDAL reads ``~/.netrc`` (or the file in
``NETRC``) with cookies, or a bearer token from ``EARTHDATA_TOKEN``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PC_BLOB_DOMAIN = ".blob.core.windows.net"
NASA_HOST_MARKERS = ("earthdata.nasa.gov", "lpdaac", "cumulus")

# GDAL settings for reading COGs over HTTP the way odc-stac users tune them: no directory
# listings, merged range requests, retries with backoff on transient server errors.
GDAL_HTTP_DEFAULTS: dict[str, Any] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    "GDAL_HTTP_TIMEOUT": "60",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
    "VSI_CACHE": "TRUE",
}


@dataclass
class PCSigner:
    """Signs Planetary Computer blob hrefs with SAS tokens from ``planetary_computer``.

    The token endpoint is ``PC_SDK_SAS_URL`` (Planetary Computer's by default); tokens are cached
    per storage account and container and renewed when they near expiry.

    Attributes:
        hosts: host suffixes whose hrefs are signed (Azure blob storage by default).
        account: the storage account to use instead of the first label of the host name (for a
            blob store served under another name, as the tests do).
    """

    hosts: tuple[str, ...] = (PC_BLOB_DOMAIN,)
    account: str | None = None
    signed: int = field(default=0, compare=False)

    def matches(self, href: str) -> bool:
        """Whether ``href`` points at storage this signer signs."""
        host = urlparse(href).netloc.split(":")[0]
        return any(host.endswith(h) or host == h.lstrip(".") for h in self.hosts)

    def __call__(self, href: str) -> str:
        """Return ``href`` with a valid SAS token (unchanged when not a matching blob href)."""
        from planetary_computer.sas import get_token

        if not self.matches(href):
            return href
        url = urlparse(href)
        query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
        if {"st", "se", "sig"} <= set(query):
            href = href.split("?", 1)[0]  # drop a token that may have expired: sign afresh
        parts = url.path.lstrip("/").split("/", 1)
        account = self.account or url.netloc.split(".", 1)[0]
        token = get_token(account, parts[0])
        self.signed += 1
        return f"{href}?{token.token}"


def needs_pc_signing(hrefs: Iterable[str]) -> bool:
    """Whether any href points at Planetary Computer blob storage."""
    return any(urlparse(h).netloc.endswith(PC_BLOB_DOMAIN) for h in hrefs)


def earthdata_gdal_env(hrefs: Iterable[str] | None = None) -> dict[str, str]:
    """GDAL settings that authenticate reads from NASA Earthdata (LP DAAC).

    A token in ``EARTHDATA_TOKEN`` is sent as ``Authorization: Bearer``; otherwise GDAL reads the
    credentials for ``urs.earthdata.nasa.gov`` from ``~/.netrc`` (or ``NETRC``) and keeps the
    login cookies in a temporary cookie jar, as Earthdata's redirects require.

    Args:
        hrefs: the hrefs to be read; settings are returned only if one of them is NASA's (all
            are assumed NASA's when ``None``).
    """
    if hrefs is not None and not any(
        any(m in host for m in NASA_HOST_MARKERS) for host in (urlparse(h).netloc for h in hrefs)
    ):  # (each href parsed once, not once per marker: this runs on every cube load)
        return {}
    token = os.environ.get("EARTHDATA_TOKEN")
    if token:
        return {"GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"}
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    cookies = str(Path(tempfile.gettempdir()) / "hlsmap-earthdata-cookies.txt")
    env = {"GDAL_HTTP_COOKIEFILE": cookies, "GDAL_HTTP_COOKIEJAR": cookies}
    if netrc.exists():
        env |= {"GDAL_HTTP_NETRC": "YES", "GDAL_HTTP_NETRC_FILE": str(netrc)}
    return env


def gdal_env(hrefs: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The GDAL configuration for reading ``hrefs``: HTTP defaults + credentials + ``extra``."""
    hrefs = list(hrefs) if hrefs is not None else None
    return {**GDAL_HTTP_DEFAULTS, **earthdata_gdal_env(hrefs), **extra}


def default_patch_url(hrefs: Iterable[str]) -> Callable[[str], str] | None:
    """The href patcher odc-stac should use for these hrefs (PC signing) or ``None``."""
    return PCSigner() if needs_pc_signing(hrefs) else None
