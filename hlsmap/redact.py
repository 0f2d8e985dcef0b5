"""Secrets out of messages: URLs lose their query strings and credentials before anyone sees them.

Planetary Computer hrefs are signed with a SAS token in the query string (``...?st=..&sig=..``),
other stores put tokens there too, and a URL may carry ``user:password@``. GDAL, odc-stac and
requests put the URL they failed on into their messages, and hlsmap's errors, the runner's
``run.log`` and the skipped-granule report quote those messages. :func:`redact` is the one place
that cleans them; :class:`RedactingFilter` applies it to log records of libraries that log URLs.
"""

from __future__ import annotations

import logging
import re

REDACTED = "REDACTED"

# scheme://[userinfo@]rest-of-the-url (GDAL also writes /vsicurl/https://...; the scheme is
# found inside). The query runs to the first character that cannot be part of a URL in a message.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s@?#'\"]*@)?(?P<rest>[^\s'\"<>]*)"
)
# a signed query seen without its URL (a GDAL message may split them): key=value pairs of
# well-known secret parameters
_SECRET_PARAM = re.compile(
    r"(?i)\b(sig|signature|se|st|sp|sv|skoid|sktid|skt|ske|sks|skv|token|access_token|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature)=[^&\s'\"]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")


def redact_url(url: str) -> str:
    """``url`` without credentials and query string: ``https://h/p?sig=x`` ->
    ``https://h/p?REDACTED``; ``https://u:p@h/p`` -> ``https://REDACTED@h/p``."""
    return _URL.sub(_clean, url)


def _clean(m: re.Match[str]) -> str:
    rest = m.group("rest")
    if "?" in rest:
        rest = rest.split("?", 1)[0] + "?" + REDACTED
    user = f"{REDACTED}@" if m.group("user") else ""
    return f"{m.group('scheme')}{user}{rest}"


def redact(text: object) -> str:
    """``str(text)`` with every URL's query string and credentials, stray signed-query
    parameters (``sig=...``) and bearer tokens replaced by ``REDACTED``."""
    s = _URL.sub(_clean, str(text))
    s = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", s)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", s)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (formatted once, then cleaned)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


# loggers that put URLs into their messages (odc-loader: "Failed to load <href> due to ...",
# rasterio: GDAL's errors and debug messages naming the /vsicurl/ path)
_URL_LOGGERS = (
    "odc.loader", "odc.stac", "rasterio", "rasterio._env", "rasterio._err", "rasterio._io",
    "rasterio._base", "rasterio.env", "hlsmap", "hlsmap.inference", "hlsmap.cube",
)  # fmt: skip
_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to the loggers that log URLs (idempotent).

    A logger's filters see only the records logged on that logger itself, so each logger is
    named (their records then reach every handler, the console's and a file's, redacted).
    """
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
