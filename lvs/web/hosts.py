"""Which names lvs answers to (the ``Host`` header): a defence against DNS rebinding.

A web page on ``attacker.example`` can point its own name at this machine's address; the browser
then treats lvs as part of that page's site and lets the page read the library. Such a request
still says ``Host: attacker.example``, so lvs refuses names it does not know, with a 400.

Known names: localhost (and ``*.localhost``), this machine's own names (its host name, its fully
qualified name, ``<hostname>.local``), the name in LVS_HOST, and LVS_ALLOWED_HOSTS. Any IP address
is accepted too: a page cannot rebind a literal address, so a ``Host`` that is an IP literal was
typed (or linked) by a person. ``*`` in LVS_ALLOWED_HOSTS turns the check off.

Litestar's own ``AllowedHostsConfig`` compares the whole header, port included, and cannot parse
``[::1]:8000``; lvs listens on a port chosen at run time, so the check lives here."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from lvs.settings import Settings

__all__ = ["AllowedHosts", "host_name", "machine_names"]


@functools.cache
def machine_names() -> frozenset[str]:
    """This machine's own names (looked up once per process)."""
    names = {"localhost"}
    short = socket.gethostname().lower().rstrip(".")
    if short:
        names |= {short, f"{short.split('.')[0]}.local"}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower().rstrip("."))
    return frozenset(n for n in names if n)


def host_name(header: str) -> str:
    """``Example.org.:8000`` -> ``example.org``; ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts(ASGIMiddleware):
    """400 for a request whose ``Host`` names none of the allowed hosts."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, settings: Settings) -> None:
        extra = {h.lower() for h in settings.allowed_hosts}
        self.everything = "*" in extra
        self.names = machine_names() | {h for h in extra if not h.startswith("*.")}
        if not _is_ip(settings.host):  # a name to listen on (addresses are allowed anyway)
            self.names |= {settings.host.lower()}
        self.suffixes = (*(h[1:] for h in extra if h.startswith("*.")), ".localhost")

    def allows(self, header: str | None) -> bool:
        if self.everything or header is None:  # no Host at all: not a browser
            return True
        name = host_name(header)
        return name in self.names or name.endswith(self.suffixes) or _is_ip(name)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        if not self.allows(None if host is None else host.decode("latin-1")):
            raise HTTPException(
                status_code=400,
                detail="Unknown host name: add it to LVS_ALLOWED_HOSTS to reach lvs by this name",
            )
        await next_app(scope, receive, send)
