"""What the server trusts and refuses, as ASGI middleware (see docs/security.md).

- Host: only the names it was started for (DNS rebinding: a page on evil.example that
  resolves to 127.0.0.1 sends ``Host: evil.example``).
- Cross-origin writes: a POST whose Origin is not one of those hosts, or that the browser marks
  ``Sec-Fetch-Site: cross-site`` (or same-site: another port or subdomain), is refused (CSRF
  from any web page the user has open); ``Origin: null`` only with ``Sec-Fetch-Site: same-origin``.
- Request bodies: refused from the Content-Length alone when over the limit, and cut off
  while streaming when a chunked body passes it; nothing over the limit is spooled to disk.
- Every page gets a Content-Security-Policy that allows only this server's own scripts,
  styles and images (no inline script, nothing from elsewhere), and nosniff / no framing.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class _TooLarge(BaseException):
    """Raised from ``receive`` when a streamed body passes the limit. A BaseException, so that
    the framework's handlers of ordinary errors (which would answer 400 or 500) let it through."""


def _origin_host(origin: str) -> str | None:
    """The host name of an Origin header; None when it cannot be parsed ('http://[::1')."""
    try:
        return _host_name(urlsplit(origin).netloc)
    except ValueError:
        return None


def _host_name(value: str) -> str:
    """'example.org:8000' -> 'example.org'; '[::1]:8000' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


async def _answer(send: Send, status: int, text: str) -> None:
    body = json.dumps({"detail": text}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Host allow-list, cross-origin write refusal, body limit and security headers in one pass."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...], max_body: int):
        self.app = app
        self.hosts = {h.lower().strip("[]") for h in hosts}
        self.max_body = max_body

    def _same_origin(self, headers: dict[str, str]) -> bool:
        """Whether a write may be answered. A browser sends ``Origin: null`` with a form's POST
        when the page's Referrer-Policy is no-referrer (this server's): such a write is let
        through only when the browser also says ``Sec-Fetch-Site: same-origin``."""
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return False
        if origin == "null":
            return site == "same-origin"
        return not origin or _origin_host(origin) in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if _host_name(headers.get("host", "")) not in self.hosts:
            await _answer(send, 400, "unknown host: this server answers only to the names it was started for")
            return
        if scope["method"] in _WRITES and not self._same_origin(headers):
            await _answer(send, 403, "cross-origin request refused")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _answer(send, 413, f"request body over the {self.max_body // (1024 * 1024)} MB limit")
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return msg

        async def secured(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                headers = list(msg.get("headers", []))
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY")]  # fmt: skip
                # a route may set a policy of its own (the live study report: inline styles, no
                # script at all); every other response gets the page's
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    extra.append((b"content-security-policy", CSP.encode()))
                msg = {**msg, "headers": headers + extra}
            await send(msg)

        try:
            await self.app(scope, limited, secured)
        except _TooLarge:
            if not started:
                await _answer(send, 413, f"request body over the {self.max_body // (1024 * 1024)} MB limit")
