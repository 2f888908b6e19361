"""Fixtures for the tests of orchestra_core.testing: pytester runs inner pytest sessions.

pytester runs them in this process and, afterwards, forgets every module first imported during
the inner session; classes imported again later would then differ from those that earlier
imports hold (``isinstance`` fails across the two). Importing orchestra and the installed
plugins here, before any inner session, keeps one copy of each.
"""

import orchestra_core.engine
import orchestra_core.testing.contract
import orchestra_core.testing.golden
import orchestra_core.testing.sshd  # noqa: F401
from orchestra_core.registry import Registry

Registry.load()  # imports every installed plugin module

pytest_plugins = ["pytester"]
