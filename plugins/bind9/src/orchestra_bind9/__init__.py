"""orchestra-bind9: BIND 9 backends for orchestra (master and slave zones served by named).

The backends register through the ``orchestra.plugins`` entry point ``bind9``;
:mod:`orchestra_bind9.testing` starts real named instances for tests (pytest plugin
``orchestra_bind9``).
"""

__version__ = "0.1.0.dev0"
