"""An ASGI app served by uvicorn in a thread on a free 127.0.0.1 port: for the browser tests and
scripts/simulate_study.py (which runs without pytest, so this module imports nothing of it)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


@contextlib.contextmanager
def serve_app(app):
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL
    (``http://127.0.0.1:PORT``); the server is asked to stop on exit (joined for 5 s)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
