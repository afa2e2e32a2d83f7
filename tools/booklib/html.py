"""The HTML book: the status page, then jupyter-book build over the recorded notebooks."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import paths, status


def cmd_html(args: argparse.Namespace) -> int:
    """``html``: rewrite chapters/status.md, then build _build/html (nothing is executed)."""
    status.write_status()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
           str(paths.ROOT)]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=paths.ROOT)
    if rc == 0:
        print(f"HTML 已生成 (book built): {paths.ROOT / '_build' / 'html' / 'index.html'}")
    return rc
