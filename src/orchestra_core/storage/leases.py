"""Keeping server locks alive while an apply runs.

A lock is a lease (:data:`~orchestra_core.storage.protocol.DEFAULT_LEASE` seconds): its
holder renews it while it works, so a holder that dies, on any host, loses it once the lease
runs out and the next apply takes the servers over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from orchestra_core.storage.protocol import LockStore

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews ``holder``'s locks on ``servers`` every third of ``lease`` until stopped.

    Use it as a context manager around the work. A renewal that fails (the store is away) is
    logged and tried again at the next tick; one that finds a lock gone is logged as lost.
    """

    def __init__(self, store: LockStore, servers: Sequence[str], holder: str, lease: float) -> None:
        self.store = store
        self.servers = list(servers)
        self.holder = holder
        self.lease = lease
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="orchestra-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        if self.servers:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                held = self.store.renew_locks(self.servers, self.holder, lease=self.lease)
            except Exception:
                log.warning("could not renew the locks of %s", self.holder, exc_info=True)
                continue
            if held < len(set(self.servers)) and not self.lost:
                self.lost = True
                log.error(
                    "%s lost locks on %s: its lease ran out and another apply took them over",
                    self.holder,
                    ", ".join(self.servers),
                )
