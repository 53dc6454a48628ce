"""What the server trusts and refuses, as ASGI middleware (see docs/security.md).

- Host: only the names it was started for (DNS rebinding: a page on evil.example that
  resolves to 127.0.0.1 sends ``Host: evil.example``), in one well-formed ``Host`` header
  (a name or address, an optional numeric port; an IPv6 address in brackets).
- Cross-origin writes: every request but GET, HEAD and OPTIONS must come from this server's own
  origin, compared in full: scheme, host and port (RFC 6454). The browser says the origin in
  ``Origin`` (else, in ``Referer``); the server's own is the request's scheme (https behind a
  proxy that says so in X-Forwarded-Proto, which uvicorn trusts from 127.0.0.1) and its
  ``Host``. ``http://localhost:9999`` (another port: the admin cookie's SameSite=Strict does not
  stop it, ports are the same site) and ``https://127.0.0.1`` are other origins. A request that
  the browser marks ``Sec-Fetch-Site: cross-site`` or ``same-site`` is refused too;
  ``Origin: null`` passes only with ``Sec-Fetch-Site: same-origin``. A write with neither
  Origin nor Referer is not a browser's cross-site request (browsers send Origin with every
  cross-origin POST): a script's, answered.
- Request bodies: refused from the Content-Length alone when over the limit, and cut off
  while streaming when a chunked body passes it; nothing over the limit is spooled to disk.
- Every page gets a Content-Security-Policy that allows only this server's own scripts,
  styles and images (no inline script, nothing from elsewhere), and nosniff / no framing.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}  # no route changes anything on these; every other method is a write
DEFAULT_PORTS = {"http": 80, "https": 443}
# a Host header (RFC 9110 7.2: uri-host [":" port]): a bracketed IPv6 address or a name / IPv4
# address (letters, digits, "-", ".", "_"), then at most one ":" and digits
_HOST = re.compile(r"\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+)")


class _TooLarge(BaseException):
    """Raised from ``receive`` when a streamed body passes the limit. A BaseException, so that
    the framework's handlers of ordinary errors (which would answer 400 or 500) let it through."""


def parse_host(value: str) -> tuple[str, int | None] | None:
    """'example.org:8000' -> ('example.org', 8000); '[::1]' -> ('::1', None); None for anything
    else (two colons outside brackets, a port that is not a number from 1 to 65535, a user or
    a path, an empty value)."""
    value = value.strip().lower()
    m = _HOST.match(value)
    if m is None:
        return None
    rest = value[m.end() :]
    port = None
    if rest:
        if not (rest[0] == ":" and rest[1:].isascii() and rest[1:].isdigit() and 0 < int(rest[1:]) < 65536):
            return None
        port = int(rest[1:])
    return m["v6"] or m["name"], port


def parse_origin(value: str, whole_url: bool = False) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an ``Origin`` header (``whole_url``: of a ``Referer``, which has
    a path too); the port filled in from the scheme. None when it does not parse or is not an
    http(s) origin ('http://[::1', 'null', 'http://a.b/x' as an Origin)."""
    try:
        u = urlsplit(value.strip())
        scheme = u.scheme.lower()
        if scheme not in DEFAULT_PORTS or u.username is not None or u.password is not None:
            return None
        host = parse_host(u.netloc)
        if host is None or (not whole_url and (u.path or u.query or u.fragment)):
            return None
        if re.search(r":0[0-9]*$", u.netloc):  # ':08765' is no origin's serialization (RFC 6454 6.1:
            return None  # the port in decimal, no leading zero): no browser sends it
    except ValueError:
        return None
    return scheme, host[0], host[1] or DEFAULT_PORTS[scheme]


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

    @staticmethod
    def _same_origin(scope: Scope, headers: dict[str, str], host: tuple[str, int | None]) -> bool:
        """Whether a write comes from this server's own origin (scheme, host and port). A
        browser sends ``Origin: null`` with a form's POST when the page's Referrer-Policy is
        no-referrer (this server's): such a write is let through only when the browser also
        says ``Sec-Fetch-Site: same-origin``."""
        origin, referer, site = headers.get("origin"), headers.get("referer"), headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return False
        scheme = scope.get("scheme", "http")
        own = (scheme, host[0], host[1] or DEFAULT_PORTS.get(scheme, 80))
        if origin is not None:
            if origin.strip() == "null":
                return site == "same-origin"
            return parse_origin(origin) == own
        if referer:  # no Origin (an older browser, or a privacy setting): the page that sent it
            return parse_origin(referer, whole_url=True) == own
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        twice = set()
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            if name in headers:
                twice.add(name)
            headers[name] = v.decode("latin-1")
        host = parse_host(headers.get("host", ""))
        if "host" in twice or host is None or host[0] not in self.hosts:
            await _answer(send, 400, "unknown host: this server answers only to the names it was started for")
            return
        if scope["method"] not in SAFE_METHODS and (
            twice & {"origin", "referer"} or not self._same_origin(scope, headers, host)
        ):
            await _answer(send, 403, "cross-origin request refused: a write must come from this server's own page "
                          "(the same scheme, host and port)")  # fmt: skip
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
