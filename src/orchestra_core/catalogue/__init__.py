"""The standard service catalogue: what hosting customers have, shared by every driver.

Registered by the built-in ``catalogue`` plugin (:mod:`orchestra_core.catalogue.plugin`), so
that two drivers for the same job (bind9 and PowerDNS) provision one type. The names are
defined in the family modules (``dns``, ``mail``, ``web``, ``databases``) and gathered in
:mod:`orchestra_core.catalogue.types`.
"""

from orchestra_core.catalogue.types import *  # noqa: F403
from orchestra_core.catalogue.types import __all__ as __all__
