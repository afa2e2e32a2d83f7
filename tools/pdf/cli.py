"""``python tools/book.py pdf [SECTION ...] [--out DIR]``: the book (or a sample of sections) as a PDF."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import build

ROOT = build.ROOT


def add_parser(sub) -> None:
    p = sub.add_parser("pdf", help="the PDF edition from the recorded notebooks (nothing is executed)")
    p.add_argument("sections", nargs="*",
                   help="only these sections, as a sample (default: the whole book -> _build/pdf/book.pdf)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default _build/pdf)")
    p.add_argument("--no-install", action="store_true",
                   help="never apt-get the TeX packages, only say which are missing")


def _write_status_atomically(write_status) -> None:
    """Rewrite chapters/status.md (the appendix) only when it changes, in one step: an HTML build running
    beside this one (the tests) reads it too."""
    target = ROOT / "chapters" / "status.md"
    tmp = target.with_name(f".status.md.{os.getpid()}.tmp")
    write_status(tmp)
    if target.is_file() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, target)


def cmd_pdf(args, resolve, toc_sections, write_status) -> int:
    """``resolve``/``toc_sections``/``write_status``: book.py's (section lookup, reading order, the run
    statistics page that becomes the appendix)."""
    sections = [resolve(s) for s in args.sections] or None
    out = (args.out or ROOT / "_build" / "pdf").resolve()
    _write_status_atomically(write_status)
    notebooks = [md.with_suffix(".ipynb") for md in (sections or toc_sections())]
    pdf = build.build(out, sections=sections, work=out, notebooks=notebooks,
                      install=not args.no_install)
    html = ROOT / "_build" / "html"
    if not sections and html.is_dir():  # the download menu's "全书 PDF" link (_static/d2l-pdf.js)
        shutil.copy(pdf, html / "book.pdf")
        print(f"  也复制到了网页目录 (copied for the HTML's link) {html / 'book.pdf'}")
    return 0
