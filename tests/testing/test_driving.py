"""``orchestra_core.testing.driving``: what a driver's own tests build on."""

from __future__ import annotations

import gc
import os

from orchestra_core.testing.driving import make_driver


def test_each_driver_keeps_its_owed_reloads_in_a_folder_of_its_own() -> None:
    """Two tests in parallel, each with a server ``mx1`` and a daemon of its own: a reload
    owed by one must not be found by the other (it was, under /var/lib/orchestra: a second
    apply that should have changed nothing reloaded the other test's Postfix)."""
    first = make_driver(["dummy-domain"], {})
    second = make_driver(["dummy-domain"], {})
    dirs = [d.orchestra.servers[0].settings["state_dir"] for d in (first, second)]
    assert dirs[0] != dirs[1]
    assert all(os.path.isdir(d) and not d.startswith("/var/lib/orchestra") for d in dirs)
    first.orchestra.close()
    del first
    gc.collect()
    assert not os.path.exists(dirs[0]) and os.path.isdir(dirs[1])
    second.orchestra.close()
