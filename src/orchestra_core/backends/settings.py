"""Backend settings: an attrs class per backend, defaults overridden by server and route."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cattrs

from orchestra_core.errors import ConfigurationError

__all__ = ["build_settings"]

_converter = cattrs.Converter(forbid_extra_keys=True)


def build_settings(settings_class: type[Any], *layers: Mapping[str, Any], where: str) -> Any:
    """An instance of ``settings_class`` from layered overrides (later layers win).

    ``where`` names the source (``backend dummy-domain on server web1``) for error messages;
    an unknown key or a value of the wrong type is a :class:`ConfigurationError`.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    try:
        return _converter.structure(merged, settings_class)
    except Exception as exc:  # cattrs raises ClassValidationError / ForbiddenExtraKeysError
        messages = (
            cattrs.transform_error(exc, format_exception=_describe)
            if isinstance(exc, cattrs.BaseValidationError)
            else [str(exc)]
        )
        raise ConfigurationError(f"settings of {where}: " + "; ".join(messages)) from exc


def _describe(exc: BaseException, type_: type | None) -> str:
    """A validator's own words (``'flavor' must be in ...``), else cattrs's description (a
    value that is not a number: ``invalid value for type, expected int``)."""
    validator = type(exc) is ValueError and exc.args and isinstance(exc.args[0], str)
    if validator and type_ not in (int, float):
        return str(exc.args[0])
    return cattrs.v.format_exception(exc, type_)
