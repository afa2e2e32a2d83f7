"""Build the PDF from the recorded notebooks: Jupyter Book's LaTeX builder (nothing is executed: the
config says ``execute_notebooks: off``), then xelatex three times through latexmk.

    build(out=ROOT/"_build/pdf")                       # the whole book -> _build/pdf/book.pdf
    build(out=DIR, sections=[md, md])                  # a sample of a few sections (the CI test)

Sphinx works in ``<work>/_build`` (default ``out``: apart from the HTML build's _build/.doctrees, so that
the two can run side by side).

Fails (SystemExit with a Chinese + English message) on ANSI escapes in recorded outputs, on a LaTeX
error, on a glyph missing from the fonts and on a font that is not embedded.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import checks, texdeps

ROOT = Path(__file__).resolve().parents[2]


def sample_toc(sections: list[Path], path: Path, status: bool = True) -> Path:
    """A _toc.yml with the book's root page, one chapter per part the ``sections`` belong to (the part's
    index page) and those sections; the run statistics (status) last, as in the book."""
    parts: dict[str, list[str]] = {}
    for md in sections:
        rel = md.resolve().relative_to(ROOT).with_suffix("")
        parts.setdefault(rel.parent.as_posix(), []).append(rel.as_posix())
    toc = {"format": "jb-book", "root": "chapters/index", "parts": [
        {"caption": part, "numbered": True,
         "chapters": [{"file": f"{part}/index", "sections": [{"file": s} for s in secs]}]}
        for part, secs in parts.items()]}
    if status:
        toc["parts"].append({"caption": "关于本书", "numbered": True, "chapters": [{"file": "chapters/status"}]})
    path.write_text(yaml.safe_dump(toc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run(cmd: list[str], cwd: Path, log: Path) -> int:
    with log.open("w", encoding="utf-8") as f:
        return subprocess.call(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def build(out: Path, sections: list[Path] | None = None, work: Path | None = None,
          notebooks: list[Path] | None = None, install: bool = True) -> Path:
    """Build ``out/book.pdf``. ``sections``: only these (a sample; default the whole book in _toc.yml).
    ``work``: where Jupyter Book writes ``_build/latex`` and its doctrees (default ``out``). ``notebooks``: the
    recorded notebooks to check for ANSI escapes (default those of ``sections`` or of the whole book)."""
    texdeps.ensure(install)
    out.mkdir(parents=True, exist_ok=True)
    bad = checks.ansi_escapes([nb for nb in notebooks or [] if nb.is_file()], ROOT)
    if bad:
        raise SystemExit("记录的输出里有 ANSI 转义序列（终端颜色码），LaTeX 无法排版；请在代码里关掉颜色后重新执行这些章节 "
                         "(ANSI escape codes in recorded outputs; turn colours off and re-run):\n  " + "\n  ".join(bad))
    work = work or out
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--builder", "latex",
           "--all", "-n", "--keep-going", "--path-output", str(work)]
    if sections:
        cmd += ["--toc", str(sample_toc(sections, out / "_toc.yml"))]
    latex_dir = work / "_build" / "latex"
    if latex_dir.is_dir():
        shutil.rmtree(latex_dir)  # figures and .aux of an earlier build must not leak into this one
    start = time.perf_counter()
    print("$ " + " ".join(cmd), flush=True)
    if _run(cmd, ROOT, out / "sphinx.log") != 0 or not (latex_dir / "book.tex").is_file():
        raise SystemExit(f"LaTeX 源文件生成失败 (the LaTeX builder failed); {out / 'sphinx.log'}:\n"
                         + _tail(out / "sphinx.log"))
    sphinx_s = time.perf_counter() - start
    print(f"  LaTeX 源文件 (book.tex) {sphinx_s:.0f} s; xelatex …", flush=True)
    start = time.perf_counter()
    # Sphinx writes a latexmkrc for xelatex beside book.tex; three passes settle contents and references
    latex_cmd = ["latexmk", "-pdfxe", "-dvi-", "-ps-", "-interaction=nonstopmode", "-halt-on-error", "book.tex"]
    rc = _run(latex_cmd, latex_dir, out / "latexmk.log")
    log = latex_dir / "book.log"
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    if rc != 0 or not (latex_dir / "book.pdf").is_file():
        raise SystemExit(f"xelatex 失败 (xelatex failed); {log}:\n" + _tail(log if log.is_file() else out / "latexmk.log"))
    missing = checks.missing_glyphs(log_text)
    if missing:
        raise SystemExit("字体里缺少这些字符，PDF 中会显示为空白；请换字体或在 tools/pdf/d2lbook.sty 里映射 "
                         "(glyphs missing from the fonts):\n  " + "\n  ".join(missing))
    pdf = out / "book.pdf"
    shutil.copy(latex_dir / "book.pdf", pdf)
    not_embedded = [f["name"] for f in checks.pdf_fonts(pdf) if not f["emb"]]
    if not_embedded:
        raise SystemExit("这些字体没有嵌入 PDF (fonts not embedded): " + ", ".join(not_embedded))
    pages = checks.pdf_pages(pdf)
    overfull = log_text.count("Overfull \\hbox")
    print(f"PDF 已生成 (built) {pdf}: {pages} 页 (pages), LaTeX 源 {sphinx_s:.0f} s + xelatex "
          f"{time.perf_counter() - start:.0f} s; overfull hbox: {overfull}", flush=True)
    return pdf
