"""A loopback HTTP file server with Range support (and If-Range against an ETag), redirects,
and a switch to cut a response short."""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    cut_after: dict[str, int]  # path -> bytes to send before dropping (once)
    redirects: dict[str, str]  # path -> where it moved (an address, or a path on this server)
    log: list[tuple[str, str | None]]

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        name = self.path.lstrip("/")
        self.log.append((name, self.headers.get("Range")))
        if name in self.redirects:  # moved permanently, as www.robots.ox.ac.uk's archives did
            self.send_response(301)
            self.send_header("Location", self.redirects[name])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        f = self.root / name
        if not f.is_file():
            self.send_error(404)
            return
        data = f.read_bytes()
        etag = f'"{len(data)}-{f.stat().st_mtime_ns}"'
        start = 0
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:  # the file changed: all of it, from the start
            rng = None
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        cut = self.cut_after.pop(name, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serve(root: Path, cut_after: dict[str, int] | None = None, redirects: dict[str, str] | None = None):
    """Serve ``root`` on 127.0.0.1; yields (base_url, request_log)."""
    log: list = []
    handler = type("H", (_Handler,), {"root": root, "cut_after": dict(cut_after or {}), "log": log,
                                      "redirects": dict(redirects or {})})  # fmt: skip
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", log
    finally:
        srv.shutdown()
        srv.server_close()
