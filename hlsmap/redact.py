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
import threading
from typing import Any

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
    """A logging filter that redacts each record's message (for a handler of one's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        msg = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return
    clean = redact(msg)
    if clean != msg:
        record.msg, record.args = clean, None


# loggers (and their children) that put URLs into their messages: odc-loader ("Failed to load
# <href> due to ..."), rasterio (GDAL's errors and debug lines naming the /vsicurl/ path),
# distributed (a failed task's arguments), hlsmap itself
URL_LOGGERS = ("odc", "rasterio", "distributed", "hlsmap")
_installed = threading.Lock()
_state = {"on": False}


def install_log_redaction() -> None:
    """Redact every log record of :data:`URL_LOGGERS` as it is made (idempotent).

    A logger's filters see only the records logged on that very logger, not its children's,
    and handlers belong to the application; the record factory sees every record, once,
    before any handler (console, file, pytest's capture) does.
    """
    with _installed:
        if _state["on"]:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name.split(".", 1)[0] in URL_LOGGERS:
                _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _state["on"] = True
