"""How remote assets are reached: Planetary Computer signing, Earthdata credentials, GDAL HTTP.

Planetary Computer hrefs are signed at *read* time, not at search time: a SAS token lives about
45 minutes and a region run lives longer, so every read asks :class:`PCSigner` for a href, and
``planetary_computer``'s token cache hands out a fresh token once the old one has less than a
minute left. NASA's LP DAAC needs Earthdata Login: GDAL reads ``~/.netrc`` (or the file in
``NETRC``) with cookies, or a bearer token from ``EARTHDATA_TOKEN``.

The token goes to NASA's Earthdata hosts only: an href's host must *be* one of
:data:`EARTHDATA_DOMAINS` or end with ``.`` + one of them (``lpdaac.attacker.example`` is not
NASA's, whatever it contains), over https, and the header is set for those hosts' URLs alone
(GDAL's path-specific options), not for every href read in the same batch. A mirror under
another name is trusted by listing its host in ``HLSMAP_EARTHDATA_HOSTS``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("hlsmap.access")

PC_BLOB_DOMAIN = ".blob.core.windows.net"
EARTHDATA_DOMAINS = ("earthdata.nasa.gov", "earthdatacloud.nasa.gov")
"""NASA domains whose hosts get the Earthdata token: HLS hrefs are on
``data.lpdaac.earthdatacloud.nasa.gov`` (LP DAAC's cloud archive) and the older
``lpdaac.earthdata.nasa.gov``; Earthdata Login is ``urs.earthdata.nasa.gov``."""
EARTHDATA_HOSTS_ENV = "HLSMAP_EARTHDATA_HOSTS"
"""Extra hosts (``host`` or ``host:port``, comma-separated) trusted with the token: a NASA
mirror under another name. Plain http is allowed only to a listed loopback host (a local
proxy or test server: the token does not leave the machine)."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

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


def _extra_hosts() -> set[str]:
    listed = os.environ.get(EARTHDATA_HOSTS_ENV, "").split(",")
    return {h.strip().lower() for h in listed if h.strip()}


def earthdata_origin(href: str) -> str | None:
    """``scheme://host[:port]`` of ``href`` when it is an Earthdata host the token may go to,
    else ``None``.

    An Earthdata host is one of :data:`EARTHDATA_DOMAINS` or a subdomain of one (exact labels,
    not a substring), reached over https; or a host listed in ``HLSMAP_EARTHDATA_HOSTS`` (https,
    or http to a loopback address).
    """
    url = urlparse(href)
    scheme = url.scheme.lower()
    if scheme not in ("https", "http") or url.hostname is None:
        return None
    host = url.hostname.lower().rstrip(".")
    netloc = url.netloc.rsplit("@", 1)[-1].lower()  # (never keep credentials of the href)
    nasa = any(host == d or host.endswith("." + d) for d in EARTHDATA_DOMAINS)
    extra = _extra_hosts()
    listed = host in extra or netloc in extra
    if scheme == "https" and (nasa or listed):
        return f"{scheme}://{netloc}"
    if scheme == "http" and listed and host in _LOOPBACK:
        return f"{scheme}://{netloc}"
    return None


def is_earthdata_href(href: str) -> bool:
    """Whether ``href`` is on a host the Earthdata token may be sent to (see
    :func:`earthdata_origin`)."""
    return earthdata_origin(href) is not None


def earthdata_gdal_env(hrefs: Iterable[str] | None = None) -> dict[str, str]:
    """GDAL settings (global to a read) that authenticate reads from NASA Earthdata (LP DAAC).

    For a list of hrefs the token in ``EARTHDATA_TOKEN`` is *not* among them:
    :func:`scope_earthdata_token` sets it for NASA's URLs alone. ``hrefs=None`` is the explicit
    opt-in of a caller that passes the result as ``load_cube(gdal_options=...)``: every href of
    that load is then trusted with the token (prefer ``HLSMAP_EARTHDATA_HOSTS``). Without a
    token, GDAL reads the credentials for ``urs.earthdata.nasa.gov`` from ``~/.netrc`` (or
    ``NETRC``: curl sends them only to the machine they name) and keeps the login cookies in a
    temporary cookie jar, as Earthdata's redirects require.

    Args:
        hrefs: the hrefs to be read; settings are returned only if one of them is NASA's (all
            are trusted as NASA's when ``None``).
    """
    if hrefs is not None and not any(is_earthdata_href(h) for h in hrefs):
        return {}
    token = os.environ.get("EARTHDATA_TOKEN")
    if token:
        return {"GDAL_HTTP_HEADERS": f"Authorization: Bearer {token}"} if hrefs is None else {}
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    cookies = str(Path(tempfile.gettempdir()) / "hlsmap-earthdata-cookies.txt")
    env = {"GDAL_HTTP_COOKIEFILE": cookies, "GDAL_HTTP_COOKIEJAR": cookies}
    if netrc.exists():
        env |= {"GDAL_HTTP_NETRC": "YES", "GDAL_HTTP_NETRC_FILE": str(netrc)}
    return env


def gdal_env(hrefs: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The GDAL configuration for reading ``hrefs``: HTTP defaults + credentials + ``extra``.

    Also scopes the Earthdata token to the NASA hosts among ``hrefs``
    (:func:`scope_earthdata_token`)."""
    hrefs = list(hrefs) if hrefs is not None else None
    if hrefs is not None:
        scope_earthdata_token(hrefs)
    return {**GDAL_HTTP_DEFAULTS, **earthdata_gdal_env(hrefs), **extra}


_SCOPED: dict[str, str] = {}  # URL prefix -> the header value set for it
_SCOPE_LOCK = threading.Lock()


def _gdal_function(name: str, argtypes: list[Any]) -> Any:
    """A function of the GDAL shared library rasterio uses (its wheel's copy, else the
    system's), or ``None`` when this GDAL lacks it."""
    import rasterio

    here = os.path.dirname(rasterio.__file__)
    found = glob.glob(os.path.join(here, os.pardir, "rasterio.libs", "libgdal*.so*"))
    lib_name = found[0] if found else ctypes.util.find_library("gdal")
    if lib_name is None:
        return None
    try:
        fn = getattr(ctypes.CDLL(lib_name), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = None
    return fn


def forget_failed_reads(hrefs: Iterable[str]) -> None:
    """Drop what GDAL's ``/vsicurl/`` cache remembers about ``hrefs`` (any query string).

    GDAL caches a URL's answer, a 404 or an exhausted 5xx included, for the process's life: a
    retry of that file would otherwise fail at once without asking the server again.
    """
    fn = _gdal_function("VSICurlPartialClearCache", [ctypes.c_char_p])
    if fn is None:
        return
    for href in hrefs:
        if href.startswith(("http://", "https://")):
            fn(f"/vsicurl/{href.split('?', 1)[0]}".encode())


def scope_earthdata_token(hrefs: Iterable[str]) -> list[str]:
    """Make GDAL send ``EARTHDATA_TOKEN`` as a bearer token to the Earthdata hosts of ``hrefs``,
    and to nothing else; returns the URL prefixes it is set for.

    GDAL's path-specific options (``VSISetPathSpecificOption``, GDAL >= 3.6; process-wide and
    thread-safe) attach ``GDAL_HTTP_HEADERS`` to ``/vsicurl/https://host/`` alone, so hrefs of
    other hosts read in the same batch, by the direct reader or odc-stac, carry no token.
    Without that function the token is not sent (a warning says so): better a 401 than a leak.
    """
    token = os.environ.get("EARTHDATA_TOKEN")
    if not token:
        return []
    header = f"Authorization: Bearer {token}"
    origins = sorted({o for o in map(earthdata_origin, hrefs) if o is not None})
    if not origins:
        return []
    with _SCOPE_LOCK:
        todo = [o for o in origins if _SCOPED.get(o) != header]
        if todo:
            fn = _gdal_function("VSISetPathSpecificOption", [ctypes.c_char_p] * 3)
            if fn is None:  # (GDAL < 3.6)
                log.warning(
                    "this GDAL cannot scope HTTP headers to a host (needs GDAL >= 3.6): the "
                    "Earthdata token is not sent; use ~/.netrc credentials instead"
                )
                return []
            for origin in todo:
                for prefix in (f"/vsicurl/{origin}/", f"{origin}/"):
                    fn(prefix.encode(), b"GDAL_HTTP_HEADERS", header.encode())
                _SCOPED[origin] = header
    return [f"{o}/" for o in origins]


def default_patch_url(hrefs: Iterable[str]) -> Callable[[str], str] | None:
    """The href patcher odc-stac should use for these hrefs (PC signing) or ``None``."""
    return PCSigner() if needs_pc_signing(hrefs) else None
