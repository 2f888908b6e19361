"""Jinja2 environments for a plugin's templates (package data under ``templates/``).

Two flavours share one loader per package:

* **shell** templates (``*.sh.j2``): every ``{{ value }}`` is quoted for the shell, so no value
  can become code; :class:`~orchestra_core.rendering.shell.ShellSafe` text (from the
  ``words`` filter) passes as it is.
* **config** templates (anything else): printed as they are; each config format escapes its
  values with its own filters (zone strings, Apache quoted strings...), registered by drivers.

Both fail loudly on an undefined variable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from orchestra_core.errors import TemplateError
from orchestra_core.rendering.shell import ShellSafe, quote, quote_words

__all__ = ["Templates"]


def _shell_finalize(value: Any) -> str:
    return quote(value)


def _config_finalize(value: Any) -> Any:
    if value is None:
        raise TemplateError("refusing to render None into a config file (a missing value?)")
    if isinstance(value, str) and "\x00" in value:
        raise TemplateError("refusing to put a NUL character into a config file")
    return value


def _octal(value: int) -> ShellSafe:
    return ShellSafe(f"{int(value):04o}")


class Templates:
    """The templates of one package, rendered through the shell or the config environment."""

    def __init__(self, package: str, *, filters: dict[str, Callable[..., Any]] | None = None):
        self.package = package
        loader = jinja2.PackageLoader(package, "templates")
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "keep_trailing_newline": True,
            "autoescape": False,
        }
        self._shell = jinja2.Environment(finalize=_shell_finalize, **common)
        self._shell.filters.update(words=quote_words, quote=quote, octal=_octal)
        self._config = jinja2.Environment(finalize=_config_finalize, **common)
        if filters:
            self._shell.filters.update(filters)
            self._config.filters.update(filters)

    @staticmethod
    def for_package(package: str, /, **filters: Callable[..., Any]) -> Templates:
        """The shared instance for a package and its ``filters`` (format-specific escapers
        such as a zone string's, on both environments): environments are costly to build."""
        return _shared(package, tuple(sorted(filters.items())))

    @staticmethod
    def for_object(
        obj: object, filters: Mapping[str, Callable[..., Any]] | None = None
    ) -> Templates:
        """The templates of the package that defines ``obj``'s class, with ``filters``."""
        module = type(obj).__module__
        package = module.rpartition(".")[0] or module
        return Templates.for_package(package, **(filters or {}))

    def shell(self, name: str, /, **variables: Any) -> str:
        """Render a shell template: every value is quoted."""
        return self._render(self._shell, name, variables)

    def config(self, name: str, /, **variables: Any) -> str:
        """Render a config template: values as they are, escaped by the template's filters."""
        return self._render(self._config, name, variables)

    def _render(self, env: jinja2.Environment, name: str, variables: dict[str, Any]) -> str:
        try:
            return env.get_template(name).render(**variables)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"{self.package}: template {name!r} not found") from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{self.package}/{name}: {exc.message}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{self.package}/{name}:{exc.lineno}: {exc.message}") from exc


@functools.cache
def _shared(package: str, filters: tuple[tuple[str, Callable[..., Any]], ...]) -> Templates:
    return Templates(package, filters=dict(filters))
