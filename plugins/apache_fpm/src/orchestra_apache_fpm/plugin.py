"""The ``apache_fpm`` driver's plugin: system users, web apps and websites on Apache 2.4 with
PHP-FPM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_apache_fpm.users import ApacheSystemUser
from orchestra_apache_fpm.webapps import ApacheWebApp
from orchestra_apache_fpm.websites import ApacheWebsite
from orchestra_core.driver import Backend, hookimpl


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``apache-systemuser``, ``apache-webapp`` and ``apache-website``."""
    return [ApacheSystemUser, ApacheWebApp, ApacheWebsite]
