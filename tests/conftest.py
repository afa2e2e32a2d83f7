"""Shared fixtures: a local HTTP server on 127.0.0.1, an isolated data cache, the built HTML book."""
from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802 - http.server API
        kind, body = self.routes.get(self.path, ("missing", b""))
        if kind == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if kind == "truncated":
            self.send_header("Content-Length", str(len(body) * 2))  # promise more than we send
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "trickle":  # one byte at a time, slower than any deadline in the tests
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return
        if kind == "slow":  # in pieces, so that two clients overlap
            for i in range(0, len(body), 4096):
                self.wfile.write(body[i:i + 4096])
                self.wfile.flush()
                time.sleep(0.01)
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """Serve ``routes[path] = (kind, bytes)`` on 127.0.0.1; yields (base_url, routes)."""
    routes: dict = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Empty cache, no mirrors: only what a test registers is reachable."""
    from d2lutils import hub
    cache = tmp_path / "cache"
    monkeypatch.setenv("D2L_DATA_DIR", str(cache))
    monkeypatch.setenv("D2L_DATA_MIRROR", "")
    monkeypatch.setattr(hub, "_BOOK_DATA_DIR", tmp_path / "no-book-data")
    return cache


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> tuple[Path, str]:
    """Build the HTML book from the recorded notebooks once per session, as README command 1 does
    (``jupyter-book build -W --keep-going``, outside the source tree). Returns (html folder, the
    build's last lines when it failed, else ""). ``D2L_BOOK_HTML=<dir>`` uses an already built
    ``_build/html`` instead (for quick local runs of the browser tests)."""
    if os.environ.get("D2L_BOOK_HTML"):
        return Path(os.environ["D2L_BOOK_HTML"]).resolve(), ""
    sys.path.insert(0, str(ROOT / "tools"))
    import book
    out = tmp_path_factory.mktemp("book")
    book.write_status()
    proc = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n",
                           "--keep-going", "--path-output", str(out), str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:]) if proc.returncode else ""
    return out / "_build" / "html", tail


@pytest.fixture(scope="session")
def book_html(book_build) -> Path:
    """The built book; fails with the build's last lines when it had an error or a warning."""
    html, error = book_build
    if error:
        pytest.fail(f"jupyter-book build failed (warnings are errors):\n{error}")
    return html
