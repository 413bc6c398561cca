"""Who may talk to the server: a Host check on every request (DNS rebinding) and an Origin check
on browser requests and WebSockets (any web page a user visits could otherwise open
``ws://127.0.0.1:8000/v1/stream`` from the user's browser).

Allowed: the Host names the server itself (``localhost``, loopback addresses, the bound address,
or, when bound to every interface, any IP address: a literal address cannot be rebound by DNS),
plus the hosts of ``--allow-origin`` additions. An Origin, when a browser sends one, must be one
of those hosts on the port the request came to (a page on another local port is another site),
or an ``--allow-origin`` addition. Clients that are not browsers send no Origin and pass on the Host alone.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("fingerspell.serve")

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


def _hostname(host_header: str) -> str:
    """``example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``::1``."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def _port(netloc: str, scheme: str) -> int | None:
    """The port of ``host[:port]``, the scheme's default when none is written."""
    try:
        port = urlsplit(f"//{netloc}").port
    except ValueError:
        return None
    return port if port is not None else {"http": 80, "https": 443}.get(scheme)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Which Host and Origin values are this server's own.

    Example:
        >>> policy = HostPolicy(bind="127.0.0.1", allow_origins=["https://app.example"])
        >>> policy.host_ok("localhost:8000"), policy.host_ok("evil.example:8000")
        (True, False)
        >>> policy.origin_ok("http://127.0.0.1:8000", "127.0.0.1:8000")
        True
        >>> policy.origin_ok("http://localhost:3000", "127.0.0.1:8000")  # another local site
        False
        >>> policy.origin_ok("https://app.example"), policy.origin_ok("https://evil.example")
        (True, False)
    """

    def __init__(self, *, bind: str, allow_origins: Iterable[str] = ()) -> None:
        self.any_ip = bind in EVERY_INTERFACE
        self.names = set(LOOPBACK_NAMES) | ({bind.lower()} if bind not in EVERY_INTERFACE else set())
        self.origins = {origin.rstrip("/").lower() for origin in allow_origins}
        self.names |= {_hostname(urlsplit(origin).netloc) for origin in self.origins}

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return True  # HTTP/1.0 clients and tests send none: nothing to rebind
        name = _hostname(host_header)
        return name in self.names or (self.any_ip and _is_ip(name))

    def origin_ok(self, origin: str | None, host_header: str | None = None) -> bool:
        """A browser's ``Origin`` is the server's own page: one of its names, on the port the
        request came to (``host_header``; a page on another local port is another site), or
        an ``--allow-origin`` addition."""
        if origin is None:
            return True  # not a browser
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not self.host_ok(parts.netloc):
            return False
        if host_header is None:
            return True  # nothing to compare the port with (no browser omits Host)
        return _port(parts.netloc, parts.scheme) == _port(host_header, parts.scheme)


class GuardMiddleware:
    """Refuses requests whose Host (HTTP and WebSocket) or Origin (WebSocket, and HTTP requests
    that are not GET/HEAD) is not the server's own: HTTP 403, or a WebSocket closed before it
    is accepted (the browser sees a failed handshake)."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        reason = None
        if not self.policy.host_ok(headers.get("host")):
            reason = f"host {headers.get('host')!r} is not this server's"
        elif (scope["type"] == "websocket" or scope.get("method") not in ("GET", "HEAD")) \
                and not self.policy.origin_ok(headers.get("origin"), headers.get("host")):
            reason = f"origin {headers.get('origin')!r} is not allowed (see --allow-origin)"
        if reason is None:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        log.warning("403 %s %s from %s: %s", scope["type"], scope.get("path"), client, reason)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return None
        body = json.dumps({"detail": f"forbidden: {reason}"}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return None
