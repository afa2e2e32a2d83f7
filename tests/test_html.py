"""Build the HTML book from the recorded notebooks, as README command 1 does, and look at it."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402


@pytest.fixture(scope="module")
def html(book_html) -> Path:
    """The book built once per test session (``book_html`` in conftest.py)."""
    return book_html


def test_every_section_has_a_page(html):
    for md in book.toc_sections():
        page = html / md.relative_to(ROOT).with_suffix(".html")
        assert page.is_file(), page


def test_search_index_has_chinese_terms(html):
    raw = (html / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(raw[raw.index("(") + 1: raw.rindex(")")])
    chinese = [t for t in index["terms"] if re.search(r"[\u4e00-\u9fff]", t)]
    assert len(chinese) > 50, "Chinese search needs jieba"
    for term in ("张量", "向量", "卷积", "批量归一化"):  # tools/jieba_dict.txt adds the first ones
        assert term in index["terms"], term


def test_mathjax_is_local(html):
    page = (html / "chapters" / "preliminaries" / "ndarray.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in page and "mathjax" in page.lower()
    assert any((html / "_static").rglob("tex-chtml*.js"))


def test_recorded_outputs_and_collapsed_answers(html):
    page = (html / "chapters" / "preliminaries" / "ndarray.html").read_text(encoding="utf-8")
    assert "torch.Size([12])" in page  # a recorded output
    assert "运行配置：profile=" in page
    assert re.search(r'class="[^"]*solution[^"]*dropdown', page) or \
        re.search(r'class="[^"]*dropdown[^"]*solution', page)


def test_colab_link_points_to_the_notebook(html):
    page = (html / "chapters" / "preliminaries" / "ndarray.html").read_text(encoding="utf-8")
    assert re.search(r"colab\.research\.google\.com/github/[^\"']+/blob/main/chapters/preliminaries/ndarray\.ipynb",
                     page)


def test_figures_are_png_and_diagrams_svg(html):
    """Plots from the runs are PNG; the drawn diagrams are Graphviz SVG (and nothing else is)."""
    images = list((html / "_images").iterdir()) if (html / "_images").exists() else []
    assert any(p.suffix == ".png" for p in images), "no PNG figures in the book"
    svgs = [p for p in images if p.suffix == ".svg"]
    assert len(svgs) >= 60, f"only {len(svgs)} Graphviz diagrams rendered"
    assert all(p.name.startswith("graphviz-") for p in svgs), "an SVG that is not a drawn diagram"
    assert not any(p.suffix == ".pdf" for p in images)


def test_status_page(html):
    page = (html / "chapters" / "status.html").read_text(encoding="utf-8")
    assert "执行统计" in page
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import book
    # every section has a row that links to its page
    for md in book.toc_sections():
        assert f'href="../{md.parent.name}/{md.stem}.html"' in page or f"{md.parent.name}/{md.stem}.html" in page, md


def test_part_index_pages_list_their_sections(html):
    """Every part with sections has an index page (chapters/<part>/index.md, plain Markdown, no
    notebook) whose body lists its sections, numbered under the part: 7. 现代卷积神经网络 → 7.6. …;
    figures and equations are numbered per section (numfig_secnum_depth 2): 图 7.6.1."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = [c for part in toc["parts"] for c in part["chapters"] if c.get("sections")]
    assert len(parts) >= 14
    for chapter in parts:
        index = ROOT / (chapter["file"] + ".md")
        assert index.name == "index.md" and not index.with_suffix(".ipynb").exists(), index
        assert index not in book.toc_sections(), "a part's index page is not a notebook section"
        page = (html / (chapter["file"] + ".html")).read_text(encoding="utf-8")
        body = page[page.index("<article"):page.index("</article>")]
        number = re.search(r'<h1><span class="section-number">(\d+)\. </span>', body)
        assert number, f"{chapter['file']}: the part has no chapter number"
        for k, section in enumerate(chapter["sections"], 1):
            name = Path(section["file"]).name
            assert re.search(rf'href="{re.escape(name)}\.html">{number[1]}\.{k}\. ', body), (index, name)
    captions = [m for p in (html / "chapters").rglob("*.html")
                for m in re.findall(r'caption-number">图 ([^<]*?)\s*<', p.read_text(encoding="utf-8"))]
    assert captions and all(re.fullmatch(r"\d+\.\d+\.\d+", c) for c in captions), \
        sorted({c for c in captions if not re.fullmatch(r"\d+\.\d+\.\d+", c)})[:5]


def test_no_gaps_between_chinese_characters_at_source_line_breaks(html):
    """Prose lines that break between two Chinese characters are joined (tools/d2l_sphinx.py)."""
    cjk = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\u2014\u2018\u2019\u201c\u201d\u2026"
    gap = re.compile(f"[{cjk}]\\s*\\n\\s*[{cjk}]")
    found = []
    for page in sorted((html / "chapters").rglob("*.html")):
        for para in re.findall(r"<p>(.*?)</p>", page.read_text(encoding="utf-8"), re.S):
            text = re.sub(r"<[^>]+>", "", para)
            if gap.search(text):
                found.append(f"{page.relative_to(html)}: {gap.search(text).group(0)!r}")
    assert not found, found[:5]
    lenet = (html / "chapters" / "convolutional-networks" / "lenet.html").read_text(encoding="utf-8")
    assert "排法不同，算出的结果" in lenet
