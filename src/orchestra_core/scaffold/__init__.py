"""Generate a new driver: ``orchestra new-driver NAME`` writes a distribution to adapt.

The new distribution is a small, working driver for one catalogue service kind, with a stub
daemon that its tests start for real, the contract suite, golden renders and a README saying
how to make it drive the author's own daemon. :func:`new_driver` writes it;
:func:`render_tree` gives its files without writing them.
"""

from orchestra_core.scaffold.examples import EXAMPLES, KINDS
from orchestra_core.scaffold.generate import (
    DEFAULT_KIND,
    DriverNames,
    ScaffoldError,
    driver_names,
    new_driver,
    render_tree,
)

__all__ = [
    "DEFAULT_KIND",
    "EXAMPLES",
    "KINDS",
    "DriverNames",
    "ScaffoldError",
    "driver_names",
    "new_driver",
    "render_tree",
]
