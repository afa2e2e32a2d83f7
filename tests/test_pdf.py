"""The PDF edition (tools/pdf/): its checks, and a sample PDF of two sections read back with poppler."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from pdf import build, checks, texdeps  # noqa: E402

# a numbered equation, a Graphviz diagram and exercises with solutions; about 8 s each to record
SAMPLE = ["chapters/preliminaries/calculus.md", "chapters/preliminaries/autograd.md"]


def test_missing_glyphs_are_read_from_the_log():
    log = ("Missing character: There is no ⊗ (U+2297) in font Latin Modern Roman 10 Regular\n"  # TeX Live 2022
           "Missing character: There is no ⊗ (U+2297) in font Latin Modern Roman 10 Regular\n"
           "Missing character: There is no ℓ (U+2113) in font DejaVuSansMono!\n")  # older engines
    assert checks.missing_glyphs(log) == ["⊗ (U+2297) — Latin Modern Roman 10 Regular", "ℓ (U+2113) — DejaVuSansMono"]
    assert checks.missing_glyphs("Overfull \\hbox (2.0pt too wide)") == []


def test_xelatex_reports_a_missing_glyph(tmp_path):
    """The log line the build looks for is what this xelatex writes (\\tracinglostchars as in d2lbook.sty)."""
    if shutil.which("xelatex") is None:
        pytest.skip("no xelatex")
    (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage{fontspec}\\setmainfont{Latin Modern Roman}"
                                    "\\tracinglostchars=2\\begin{document}a ⊗ b\\end{document}\n", encoding="utf-8")
    subprocess.run(["xelatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True, timeout=120)
    log = (tmp_path / "t.log").read_text(encoding="utf-8", errors="replace")
    assert checks.missing_glyphs(log) == ["⊗ (U+2297) — Latin Modern Roman 10 Regular"]


def _notebook(path: Path, text: str) -> Path:
    nb = {"cells": [{"cell_type": "code", "source": "print(1)", "metadata": {}, "execution_count": 1,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_ansi_escapes_in_outputs_are_found(tmp_path):
    clean = _notebook(tmp_path / "clean.ipynb", "训练损失 0.5\n")
    coloured = _notebook(tmp_path / "coloured.ipynb", "\x1b[31mError\x1b[0m\n")
    assert checks.ansi_escapes([clean]) == []
    assert checks.ansi_escapes([clean, coloured], tmp_path) == ["coloured.ipynb: 第 1 个单元格 (cell 1)"]


def test_the_build_refuses_ansi_escapes(tmp_path, monkeypatch):
    monkeypatch.setattr(texdeps, "ensure", lambda install=True: 0.0)
    coloured = _notebook(tmp_path / "coloured.ipynb", "\x1b[1;32mok\x1b[0m")
    with pytest.raises(SystemExit, match="ANSI"):
        build.build(tmp_path / "out", notebooks=[coloured])


def test_missing_packages_are_named_when_not_root(monkeypatch):
    monkeypatch.setattr(texdeps, "missing", lambda: ["texlive-xetex", "latexmk"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit, match="texlive-xetex latexmk") as err:
        texdeps.ensure()
    assert "apt-get install" in str(err.value) and "需要" in str(err.value)


def test_wide_tables_share_the_line_between_their_wide_columns():
    from pdf.d2l_latex import LINE_CHARS, _share_line
    widths = _share_line([60, 8, 7, 6, 9, 60])  # the status table: title, lectures, profile, device, s, metrics
    assert widths[1:5] == [11, 10, 9, 12]  # short columns keep their width (+ padding): no "quic|k"
    assert widths[0] == widths[5] and abs(sum(widths) - LINE_CHARS) <= 2


def test_sample_toc_keeps_parts_and_ends_with_the_status_appendix(tmp_path):
    toc = build.sample_toc([ROOT / s for s in SAMPLE], tmp_path / "_toc.yml")
    import yaml
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    assert data["root"] == "chapters/index"
    first, last = data["parts"][0], data["parts"][-1]
    assert first["chapters"][0]["file"] == "chapters/preliminaries/index"
    assert [s["file"] for s in first["chapters"][0]["sections"]] == [s.removesuffix(".md") for s in SAMPLE]
    assert last["chapters"] == [{"file": "chapters/status"}]


@pytest.fixture(scope="module")
def sample_pdf(tmp_path_factory) -> Path:
    """``book.py pdf`` of two sections. As root (CI) the build installs the TeX packages it lacks
    (about 1 min); elsewhere the test is skipped with their names."""
    need = texdeps.missing()
    if need and os.geteuid() != 0:
        pytest.skip("生成 PDF 需要 (the PDF needs): " + " ".join(need))
    out = tmp_path_factory.mktemp("pdf")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "pdf", *SAMPLE, "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "book.pdf"


@pytest.mark.slow  # builds a PDF (about 15 s; as root without TeX, 1 min more to install it)
def test_sample_pdf_embeds_every_font(sample_pdf):
    fonts = checks.pdf_fonts(sample_pdf)
    assert any("CJK" in f["name"] for f in fonts), fonts  # Noto Serif/Sans CJK set the Chinese
    assert all(f["emb"] for f in fonts), [f["name"] for f in fonts if not f["emb"]]


@pytest.mark.slow  # builds a PDF (about 15 s; as root without TeX, 1 min more to install it)
def test_sample_pdf_has_chinese_headings_numbers_and_solutions(sample_pdf):
    text = checks.pdf_text(sample_pdf)
    assert "目录" in text
    assert re.search(r"第\s*1\s*章\s*预备知识", text)  # 第 N 章, Arabic numbers as in the HTML
    assert re.search(r"1\.1\s+矩阵计算", text) and re.search(r"1\.2\s+链式法则与自动求导", text)
    assert re.search(r"\(1\.2\.1\)", text), "a numbered equation (section.equation) is missing"
    assert re.search(r"图\s*1\.2\.1", text), "the Graphviz figure's caption number is missing"
    # solutions leave the sections for the end of the chapter: the first one (of section 1.1) follows
    # the 练习解答 heading and comes after the exercises of section 1.2
    first_solution = re.search(r"解答\s*练习\s*1\.1\.1", text).start()
    assert "练习解答" in text[:first_solution]
    assert re.search(r"练习\s*1\.2\.1", text[:first_solution])
    assert re.search(r"附录\s*A\s*执行统计", text)


@pytest.mark.slow  # builds a PDF (about 15 s; as root without TeX, 1 min more to install it)
def test_sample_pdf_has_numbered_bookmarks(sample_pdf):
    marks = checks.pdf_bookmarks(sample_pdf)
    assert re.fullmatch(r"第\s*1\s*章\s*预备知识", marks[0]), marks[:5]
    assert "1.1 矩阵计算" in marks and "1.2 链式法则与自动求导" in marks and "练习解答" in marks, marks


@pytest.mark.slow  # builds a PDF (about 15 s; as root without TeX, 1 min more to install it)
def test_sample_pdf_page_count_is_sane(sample_pdf):
    pages = checks.pdf_pages(sample_pdf)
    assert 10 <= pages <= 80, pages
