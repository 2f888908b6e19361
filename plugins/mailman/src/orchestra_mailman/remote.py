"""The program the mailman backends run on the list server: Mailman's REST API from there.

It is sent as it is (its source, never formatted with a value) to the server's ``python3``
(``-I -c``), and reads what to do as one JSON object on its standard input, so no name,
description or address is ever quoted into code or into a command line. It uses the
standard library only: it runs under the server's Python, not orchestra's.

It finds the API where ``mailman info`` says it is: the REST root URL and credentials of
Mailman's configuration (``config`` in the input, else the file Mailman itself would find),
read with Mailman's own packages when the server's Python has them, else printed by
``mailman info`` (the command in the input's ``mailman``: Mailman's command line as its
user). They are used for this run and never printed.

Verbs (``verb`` in the input):

``read``
    One JSON line, keys sorted: ``domain`` (whether Mailman has the list's domain),
    ``exists``, ``config`` (the list's values of the ``fields`` asked for, empty when absent),
    ``owners`` (sorted, lower case): what orchestra decides of a list (its members are the
    list's own, not drift). What the backend's probe and observation print.
``apply``
    Each of ``ops`` in order: ``{"op": "domain"}``, ``{"op": "create"}``, ``{"op":
    "owner", "email": ...}``, ``{"op": "config", "values": {...}, "previous": {...}}`` (one
    PATCH), ``{"op": "unowner", "email": ...}``; a line of what it did for each. If one
    fails, what the others did is undone.
``absent``
    Exits 0 when the list does not exist, 1 when it does (a step's ``unless``).
``members``
    For each of ``lists`` that exists, ``INDEX<TAB>MEMBERS``: its subscribers (Mailman's
    ``member_count``). The ``list`` is not read.
``delete``
    Removes the list (Mailman keeps its archive), then its domain if no list is left in it.

Every failure exits 1 with one line on stderr naming the call and Mailman's words.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 30


class Failed(Exception):
    """What stops the run: its message is the line printed on stderr."""


def credentials(mailman: list[str], config: str | None) -> tuple[str, str]:
    """The REST root URL and the ``Authorization`` header: read from Mailman's configuration
    with Mailman's own packages when this Python has them (0.1 s), else from ``mailman
    info`` (1.3 s: it starts all of Mailman)."""
    try:
        root, user = _from_configuration(config)
    except Exception:  # not Mailman's Python, or a configuration only Mailman can read
        root, user = _from_mailman_info(mailman)
    token = base64.b64encode(user.encode()).decode()
    return root.rstrip("/") + "/", f"Basic {token}"


def _from_configuration(config: str | None) -> tuple[str, str]:
    """What ``mailman info`` prints, computed as Mailman does: its schema, its defaults and
    the configuration file (``config``, or the one Mailman would find)."""
    from importlib.resources import files

    from lazr.config import ConfigSchema, as_boolean  # type: ignore[import-not-found]
    from mailman.core.initialize import (  # type: ignore[import-not-found]
        search_for_configuration_file,
    )

    package = files("mailman.config")
    loaded = ConfigSchema(str(package / "schema.cfg")).load(str(package / "mailman.cfg"))
    path = config or search_for_configuration_file()
    if path:
        with open(path, encoding="utf-8") as text:
            loaded.push(path, text.read())
    web = loaded["webservice"]
    scheme = "https" if as_boolean(web["use_https"]) else "http"
    version = "3.0" if web["api_version"] == "3.0" else "3.1"
    root = f"{scheme}://{web['hostname']}:{web['port']}/{version}/"
    return root, f"{web['admin_user']}:{web['admin_pass']}"


def _from_mailman_info(mailman: list[str]) -> tuple[str, str]:
    """The root URL and ``USER:PASSWORD`` as ``mailman info`` prints them."""
    try:
        done = subprocess.run(
            [*mailman, "info"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Failed(f"could not run {' '.join(mailman)} info: {exc}") from exc
    if done.returncode != 0:
        words = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Failed(f"{' '.join(mailman)} info failed ({done.returncode}): {words[0]}")
    root = user = None
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "REST root url":
            root = value.strip()
        elif key.strip() == "REST credentials":
            user = value.strip()
    if not root or not user:
        raise Failed(f"{' '.join(mailman)} info printed no REST root url and credentials")
    return root, user


class Rest:
    """Calls of one Mailman's REST API."""

    def __init__(self, root: str, authorization: str) -> None:
        self.root = root
        self.authorization = authorization
        # Never through a proxy the environment names (http_proxy): the API is Mailman's
        # own, on this server, and its credentials must not leave it.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, data: dict[str, Any] | None = None) -> tuple[int, Any]:
        """Status and JSON body (None when empty) of ``METHOD ROOT/PATH``; a status of 400
        or more other than 404 is a :class:`Failed`."""
        body = json.dumps(data).encode() if data is not None else None
        headers = {"Authorization": self.authorization}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.root + path, data=body, method=method, headers=headers
        )
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 404, None
            raise Failed(f"Mailman answered {exc.code} to {method} {path}: {_words(exc)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Failed(f"Mailman's REST API at {self.root} does not answer: {reason}") from exc

    def get(self, path: str) -> Any:
        """The JSON at ``path``, None when it is not there."""
        status, body = self.call("GET", path)
        return None if status == 404 else body


def _words(exc: urllib.error.HTTPError) -> str:
    raw = exc.read().decode(errors="replace")
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.strip()[:300] or exc.reason
    if isinstance(body, dict):
        return str(body.get("description") or body.get("title") or body)[:300]
    return str(body)[:300]


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="@")


def read(rest: Rest, fqdn: str, fields: list[str]) -> dict[str, Any]:
    """What ``read`` prints (see the module's docs)."""
    domain = fqdn.rpartition("@")[2]
    state: dict[str, Any] = {
        "domain": rest.get(f"domains/{_q(domain)}") is not None,
        "exists": False,
        "config": {},
        "owners": [],
    }
    found = rest.get(f"lists/{_q(fqdn)}")
    if found is None:
        return state
    config = rest.get(f"lists/{_q(fqdn)}/config") or {}
    owners = rest.get(f"lists/{_q(fqdn)}/roster/owner") or {}
    state.update(
        exists=True,
        config={field: config.get(field) for field in fields},
        owners=sorted(entry["email"].lower() for entry in owners.get("entries", [])),
    )
    return state


def apply(rest: Rest, fqdn: str, ops: list[dict[str, Any]]) -> list[str]:
    """Carry out ``ops`` in order (see the module's docs); what was done, a line each. When
    one fails, those done are undone in reverse order (a list created is removed, options
    set get their ``previous`` values back, an owner added is removed and one removed added
    again) and the failure says so: Mailman is left as it was."""
    done: list[dict[str, Any]] = []
    said: list[str] = []
    try:
        for op in ops:
            said.append(_do(rest, fqdn, op))
            done.append(op)
    except Failed as exc:
        undone = []
        for op in reversed(done):
            try:
                undone.append(_undo(rest, fqdn, op))
            except Failed as again:
                undone.append(f"could not undo ({again})")
        if undone:
            raise Failed(f"{exc}; undone: {'; '.join(undone)}") from exc
        raise
    return said


def _do(rest: Rest, fqdn: str, op: dict[str, Any]) -> str:
    domain = fqdn.rpartition("@")[2]
    kind = op["op"]
    if kind == "domain":
        rest.call("POST", "domains", {"mail_host": domain})
        return f"added the domain {domain} to Mailman"
    if kind == "create":
        rest.call("POST", "lists", {"fqdn_listname": fqdn})
        return f"created the list {fqdn}"
    if kind == "config":
        rest.call("PATCH", f"lists/{_q(fqdn)}/config", op["values"])
        return f"set {', '.join(sorted(op['values']))} of {fqdn}"
    if kind == "owner":
        _add_owner(rest, fqdn, op["email"])
        return f"made {op['email']} an owner of {fqdn}"
    if kind == "unowner":
        _remove_owner(rest, fqdn, op["email"])
        return f"removed {op['email']} from the owners of {fqdn}"
    raise Failed(f"unknown operation {kind!r}")


def _undo(rest: Rest, fqdn: str, op: dict[str, Any]) -> str:
    domain = fqdn.rpartition("@")[2]
    kind = op["op"]
    if kind == "domain":
        rest.call("DELETE", f"domains/{_q(domain)}")
        return f"removed the domain {domain}"
    if kind == "create":
        rest.call("DELETE", f"lists/{_q(fqdn)}")
        return f"removed the list {fqdn}"
    if kind == "config":
        previous = op.get("previous") or {}
        if previous:
            rest.call("PATCH", f"lists/{_q(fqdn)}/config", previous)
        return f"set {', '.join(sorted(previous)) or 'nothing'} back"
    if kind == "owner":
        _remove_owner(rest, fqdn, op["email"])
        return f"removed the owner {op['email']}"
    _add_owner(rest, fqdn, op["email"])
    return f"made {op['email']} an owner again"


def _add_owner(rest: Rest, fqdn: str, email: str) -> None:
    rest.call(
        "POST",
        "members",
        {
            "list_id": _list_id(rest, fqdn),
            "subscriber": email,
            "role": "owner",
            "pre_verified": True,
            "pre_confirmed": True,
            "pre_approved": True,
        },
    )


def _remove_owner(rest: Rest, fqdn: str, email: str) -> None:
    roster = rest.get(f"lists/{_q(fqdn)}/roster/owner") or {}
    for entry in roster.get("entries", []):
        if entry["email"].lower() == email.lower():
            rest.call("DELETE", f"members/{_q(entry['member_id'])}")


def _list_id(rest: Rest, fqdn: str) -> str:
    found = rest.get(f"lists/{_q(fqdn)}")
    if found is None:
        raise Failed(f"the list {fqdn} is not in Mailman")
    return str(found["list_id"])


def delete(rest: Rest, fqdn: str) -> list[str]:
    """The list removed, then its domain when no list is left in it."""
    domain = fqdn.rpartition("@")[2]
    said = []
    if rest.get(f"lists/{_q(fqdn)}") is not None:
        rest.call("DELETE", f"lists/{_q(fqdn)}")
        said.append(f"removed the list {fqdn}")
    left = rest.get(f"domains/{_q(domain)}/lists")
    if left is not None and not left.get("total_size", len(left.get("entries", []))):
        rest.call("DELETE", f"domains/{_q(domain)}")
        said.append(f"removed the domain {domain} from Mailman (no list left in it)")
    return said


def main() -> int:
    """Run the verb the input asks for; 0 on success (``absent``: 0 when absent)."""
    try:
        job = json.loads(sys.stdin.read())
        rest = Rest(*credentials(list(job["mailman"]), job.get("config")))
        fqdn = str(job.get("list", ""))
        verb = job["verb"]
        if verb == "members":
            for i, name in enumerate(job["lists"]):
                found = rest.get(f"lists/{_q(str(name))}")
                if found is not None:
                    print(f"{i}\t{int(found.get('member_count', 0))}")
        elif verb == "read":
            print(json.dumps(read(rest, fqdn, list(job.get("fields", []))), sort_keys=True))
        elif verb == "absent":
            return 1 if rest.get(f"lists/{_q(fqdn)}") is not None else 0
        elif verb == "apply":
            print("\n".join(apply(rest, fqdn, list(job["ops"]))))
        elif verb == "delete":
            print("\n".join(delete(rest, fqdn)))
        else:
            raise Failed(f"unknown verb {verb!r}")
    except Failed as exc:
        print(f"orchestra-mailman: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
