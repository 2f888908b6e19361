"""orchestra-apache-fpm: system users, PHP-FPM pools isolated per account and Apache virtual
hosts, as orchestra backends (``apache-systemuser``, ``apache-webapp``, ``apache-website``)."""

from __future__ import annotations

__all__: list[str] = []
