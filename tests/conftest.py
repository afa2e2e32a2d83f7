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


@pytest.fixture
def one_thread():
    """One torch thread for tests of tiny models: faster, and no fight over cores with other processes."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    from filelock import FileLock
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run: the first one builds, the others reuse it
    out, result = base / "book", base / "book-build-result.txt"
    with FileLock(str(base / "book-build.lock")):
        if not result.exists():
            out.mkdir(exist_ok=True)
            book.write_status()
            proc = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W",
                                   "-n", "--keep-going", "--path-output", str(out), str(ROOT)],
                                  capture_output=True, text=True, cwd=ROOT)
            result.write_text("\n".join((proc.stdout + proc.stderr).splitlines()[-40:]) if proc.returncode else "",
                              encoding="utf-8")
    return out / "_build" / "html", result.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def book_html(book_build) -> Path:
    """The built book; fails with the build's last lines when it had an error or a warning."""
    html, error = book_build
    if error:
        pytest.fail(f"jupyter-book build failed (warnings are errors):\n{error}")
    return html


SLOW_FILES = ("test_html.py", "test_browser.py", "test_pipeline.py")


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests: notebook re-execution (nbval), the HTML build, the browser suite, the pipeline.
    Under pytest-xdist, tools/test.sh uses ``--dist loadfile``: the cells of one notebook run in order on
    one worker; the HTML build is shared between workers through a lock (``book_build``)."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" or path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


# Re-executed summaries vs recorded ones (nbval only compares cells tagged nbval-check-output).
# Each trained section's tolerance comes from its measured spread (tests/summary_spread.json, written by
# `python tools/spread.py measure`): how far each printed summary moved under another seed, another
# thread count, oneDNN off and channels-last off, with a margin (tools/spread.py: MARGIN, floors). A
# summary line edited by hand (测试精度 0.833 → 0.999) falls outside it; another CPU model does not.
# Cells without a measured spread (tests/test_spread.py requires one for every trained section) fall
# back to these bounds:
FALLBACK_ABSOLUTE = {"train_acc": 0.12, "test_acc": 0.12}
FALLBACK_RELATIVE = {"train_loss": 0.35, "perplexity": 0.35, "loss": 0.35}


def _spread_module():
    sys.path.insert(0, str(ROOT / "tools"))
    import spread  # noqa: PLC0415 - the tool that measures and stores the spreads
    return spread


def summary_mismatch(recorded_outputs, rerun_outputs, spread_cell: dict | None = None) -> str:
    """'' when the re-run's training summary agrees with the recorded one: within the cell's measured
    spread (``spread_cell``: {metric: {"values": …, "min": …, "max": …}}) or else the fallback bounds."""
    spread = _spread_module()
    before, after = spread.cell_metrics(recorded_outputs), spread.cell_metrics(rerun_outputs)
    problems = []
    for key, value in before.items():
        if key not in after:
            continue
        if spread_cell and key in spread_cell:
            bound, how = spread.tolerance(key, spread_cell[key], value), "measured spread"
        elif key in FALLBACK_ABSOLUTE:
            bound, how = FALLBACK_ABSOLUTE[key], "fallback"
        elif key in FALLBACK_RELATIVE:
            bound, how = FALLBACK_RELATIVE[key] * max(abs(value), 1e-3), "fallback"
        else:
            continue
        if abs(after[key] - value) > bound + 1e-9:
            problems.append(f"{key}: recorded {value}, re-run {after[key]}, allowed ±{bound:.3g} ({how})")
    return "; ".join(problems)


def spread_of_cell(nb_path: Path, cell_id: str) -> dict | None:
    md = nb_path.resolve().with_suffix(".md")
    if not md.is_relative_to(ROOT):
        return None
    entry = _spread_module().load().get(str(md.relative_to(ROOT)))
    return (entry or {}).get("cells", {}).get(cell_id)


class SummaryCheck:
    """A plugin object, not a conftest hook: conftest hooks only see items under tests/, and the
    notebooks live in chapters/."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        check_summary(item, call, outcome.get_result())


def pytest_configure(config):
    config.pluginmanager.register(SummaryCheck(), "d2l-summary-check")


def check_summary(item, call, report):
    if call.when != "call" or report.failed or type(item).__name__ != "IPyNbCell":
        return
    rerun = getattr(item, "test_outputs", None)
    meta = item.parent.nb.metadata.get("d2l", {}) if hasattr(item.parent, "nb") else {}
    if not rerun or meta.get("profile") != "quick" or str(meta.get("device", "")).startswith("cuda"):
        return
    spread_cell = spread_of_cell(Path(str(item.fspath)), item.cell.get("id", ""))
    problem = summary_mismatch(item.cell.outputs, rerun, spread_cell)
    if problem:
        report.outcome = "failed"
        report.longrepr = (f"{item.name}: the re-executed training summary differs from the recorded one "
                           f"({problem}). Re-run the section with `python tools/book.py run` instead of "
                           f"editing outputs; if this machine's arithmetic moves it further than the spread "
                           f"measured elsewhere, measure it here: `python tools/spread.py measure <section.md>`.")
