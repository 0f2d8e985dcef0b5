"""Offline STAC validation for the tests.

The STAC core schemas ship inside pystac; the extension schemas (projection, eo, raster,
classification, file, view) lie in ``../shared/fixtures/stac-schemas/<ext>/<version>/schema.json``
under the path of their ``$id`` URL, so a validator that maps those URLs to the local files
validates without the network. An extension whose schema is not there fails loudly: a test must
never silently skip validation.

Validation is strict: ``format`` keywords are checked (``iri`` / ``iri-reference`` links and
hrefs, ``uri``, ``date-time``), as stac-validator and rustac do. pystac's validator leaves
format checks off, and jsonschema skips a format whose checker library is missing, so this
module refuses to load without them (``jsonschema[format-nongpl]``, a test dependency).

Usage (any test; this folder is on ``sys.path`` through the root conftest)::

    import stacval
    stacval.validate(item.to_dict())
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pystac
import pystac.validation
from pystac.errors import STACValidationError

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "stac-schemas"
_PREFIX = "https://stac-extensions.github.io/"
STRICT_FORMATS = ("iri", "iri-reference", "uri", "uri-reference", "date-time")
_missing = [f for f in STRICT_FORMATS if f not in jsonschema.FormatChecker.checkers]
if _missing:
    raise ImportError(
        f"jsonschema cannot check format(s) {', '.join(_missing)}: install the test extra "
        "(jsonschema[format-nongpl]) so STAC validation is strict"
    )


class OfflineValidator(pystac.validation.JsonSchemaSTACValidator):
    """Reads extension schemas from the shared fixtures instead of the network."""

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri.startswith(_PREFIX) and schema_uri not in self.schema_cache:
            path = SCHEMAS / schema_uri[len(_PREFIX) :]
            if not path.exists():
                raise FileNotFoundError(
                    f"no offline copy of STAC extension schema {schema_uri} (looked in {path}); "
                    "use an extension whose schema is in shared/fixtures/stac-schemas"
                )
            self.schema_cache[schema_uri] = json.loads(path.read_text())
        return super()._get_schema(schema_uri)

    def _validate_from_uri(
        self,
        stac_dict: dict[str, Any],
        stac_object_type: Any,
        schema_uri: str,
        href: str | None = None,
    ) -> None:
        # pystac's own method, with the format checker on
        schema = self._get_schema(schema_uri)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema, registry=self.registry, format_checker=cls.FORMAT_CHECKER)
        errors = list(validator.iter_errors(stac_dict))
        if errors:
            best = jsonschema.exceptions.best_match(errors)
            raise STACValidationError(
                f"{stac_object_type} {stac_dict.get('id')!r} fails {schema_uri}: {best}",
                source=errors,
            ) from best


_VALIDATOR = OfflineValidator()


def validate(obj: dict[str, Any]) -> list[str]:
    """Validate a STAC Item/Collection/Catalog dict; raise ``pystac.STACValidationError``.

    Returns:
        The schema URIs it was validated against (core + every extension).
    """
    pystac.validation.set_validator(_VALIDATOR)
    return pystac.validation.validate_dict(obj)
