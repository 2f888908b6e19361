"""The dummy driver passes the backend contract, every one of its nine backends.

The dummy "daemon" is the folder its backends write into: observing the server is reading
every file there (content and mode), except the reload log, which only grows. Its daemon is
out of reach when its ``pid_file`` names no file: the reload fails, and the files of the batch
get their previous content back.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

import pytest

from orchestra_core import Server, Service
from orchestra_core.dummy.backend import DummySettings
from orchestra_core.dummy.plugin import BACKENDS
from orchestra_core.scaffold.examples import CHANGES, EXAMPLES
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

DIRECTORY = DummySettings().directory
REFUSE = ("bash", "-c", 'echo "checker: $1 is not acceptable" >&2; exit 1', "checker")


class DummyContract(BackendContract):
    """The contract for one dummy backend; :attr:`kind` picks its objects in EXAMPLES."""

    transports = ("local", "ssh")
    kind: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _sandbox(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"

    def servers(self) -> list[Server]:
        return [Server(name="box", root=str(self.root))]

    def objects(self) -> list[Service]:
        return list(EXAMPLES[self.kind])

    def changed(self, obj: Service) -> Service:
        return CHANGES[self.kind]

    def observe(self) -> dict[str, tuple[bytes, int]]:
        base = self.root / DIRECTORY.lstrip("/")
        return {
            str(path.relative_to(base)): (path.read_bytes(), path.stat().st_mode)
            for path in sorted(base.rglob("*"))
            if path.is_file() and path.name != "reloads.log"
        }

    def read_back(self, obj: Service, path: str) -> Any:
        name = urllib.parse.quote(obj.identity, safe="@.-_+") + ".conf"
        conf = self.root / DIRECTORY.lstrip("/") / obj.kind / name
        line = next(x for x in conf.read_text().splitlines() if x.startswith("data = "))
        value: Any = json.loads(line[len("data = ") :])
        for name_, key in re.findall(r"\.?([A-Za-z_]\w*)|\[([^\]]*)\]", path):
            value = value[name_] if name_ else value[int(key) if isinstance(value, list) else key]
        return value

    def rejection(self, obj: Service) -> Rejection:
        # A new mode makes the file new; the checker refuses it, as a daemon's would.
        return Rejection(obj=obj, settings={"file_mode": "0600", "checker": REFUSE})

    def unreachable(self, obj: Service) -> Unreachable:
        # A daemon that is not running: its pid file is not there.
        return Unreachable(out_of_reach={"pid_file": "/run/orchestra-dummy/dummy.pid"})

    def check_password(self, obj: Service, secret: str) -> None:
        name = urllib.parse.quote(obj.identity, safe="@.-_+") + ".conf.secret"
        stored = (self.root / DIRECTORY.lstrip("/") / obj.kind / name).read_text()
        assert stored.startswith("pbkdf2-sha256$") and secret not in stored
        assert os.stat(self.root / DIRECTORY.lstrip("/") / obj.kind / name).st_mode & 0o777 == 0o600


for _backend in BACKENDS:
    _kind = _backend.service_type.kind
    _name = f"TestDummy{_backend.service_type.__name__}Contract"
    globals()[_name] = type(_name, (DummyContract,), {"backend": _backend.name, "kind": _kind})
