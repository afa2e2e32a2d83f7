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


# Full-width punctuation has its own spacing: no gap after ，。：；？！、 (tools/d2l_sphinx.py)
PUNCT_GAP = re.compile(r"[，。：；？！、][ \t\n]+(?=\S)")


def punctuation_gaps(page_html: str) -> list[str]:
    """Text around each space that follows full-width punctuation in the page's paragraphs."""
    gaps = []
    for para in re.findall(r"<p>(.*?)</p>", page_html, re.S):
        text = re.sub(r"<[^>]+>", "", para)
        gaps += [text[max(0, m.start() - 6):m.end() + 6] for m in PUNCT_GAP.finditer(text)]
    return gaps


def test_no_space_after_full_width_punctuation(html):
    found = [f"{p.relative_to(html)}: {g!r}" for p in sorted((html / "chapters").rglob("*.html"))
             for g in punctuation_gaps(p.read_text(encoding="utf-8"))]
    assert not found, f"{len(found)} gaps after full-width punctuation, e.g. {found[:5]}"


def test_punctuation_check_can_fail():
    assert punctuation_gaps("<p>不同，\n<span class=\"math\">x</span> 是</p>") == ["不同，\nx 是"]
    assert punctuation_gaps("<p>不同，<span class=\"math\">x</span> 是 a, b</p>") == []


def glue_lines_shown(page_html: str) -> list[str]:
    """Top-level ``d2l.glue(...)`` lines in the code the page shows (they run, but are not for the reader)."""
    shown = []
    for block in re.findall(r'<div class="cell_input[^"]*">.*?<pre>(.*?)</pre>', page_html, re.S):
        code = re.sub(r"<[^>]+>", "", block)
        shown += [line for line in code.splitlines() if re.match(r"\s*(_\s*=\s*)?(d2l\.)?glue\(", line)]
    return shown


def test_glue_calls_are_not_shown(html):
    """Cells that only glue are not on the page, glue lines are left out of the code shown and a
    trailing glue call's echoed value (a bare 0.8329) is not shown; the notebook still runs them."""
    found = [f"{p.relative_to(html)}: {line}" for p in sorted((html / "chapters").rglob("*.html"))
             for line in glue_lines_shown(p.read_text(encoding="utf-8"))]
    assert not found, found[:5]
    softmax = (html / "chapters" / "linear-networks" / "softmax-regression.html").read_text(encoding="utf-8")
    assert "训练损失" in softmax and not re.search(r'text_plain[^>]*><div class="highlight"><pre><span></span>0\.8329',
                                                   softmax), "the glued value is echoed under the summary"


def test_glue_check_can_fail():
    page = ('<div class="cell_input docutils container"><div class="highlight"><pre><span></span>'
            '<span class="n">d2l</span><span class="o">.</span><span class="n">glue</span>(<span>"a"</span>, x)\n'
            'print(x)</pre></div></div>')
    assert glue_lines_shown(page) == ['d2l.glue("a", x)']


def test_glue_statements_are_left_out_of_the_shown_code():
    import d2l_sphinx
    assert d2l_sphinx.without_glue('x = 1\nd2l.glue("a", x)\nprint(x)\nd2l.glue("b",\n         x)') == \
        ("x = 1\nprint(x)", True)
    assert d2l_sphinx.without_glue('acc = d2l.glue("a", 0.5)\nprint(acc)') == ('acc = d2l.glue("a", 0.5)\nprint(acc)', False)
    assert d2l_sphinx.without_glue("!pip install x") == ("!pip install x", False)
    assert d2l_sphinx.without_glue('for k in ks:\n    h = run(k)\n    _ = d2l.glue(f"a-{k}", h)\nprint(h)') == \
        ("for k in ks:\n    h = run(k)\nprint(h)", False)
    loop = 'x = 1\nfor k in ks:\n    d2l.glue(f"a-{k}", k)'  # a loop that only glues goes as a whole
    assert d2l_sphinx.without_glue(loop) == ("x = 1", False)
    branch = 'if ok:\n    print(1)\nelse:\n    d2l.glue("a", 0)'  # a block never left empty
    assert d2l_sphinx.without_glue(branch) == (branch, False)


def test_long_left_to_right_diagrams_are_laid_out_for_the_column():
    import d2l_sphinx
    chain = ("digraph { rankdir=LR; " + " ".join(f'n{i} [label="第 {i} 步的很长的说明"];' for i in range(8))
             + " -> ".join(f"n{i}" for i in range(8)) + " }")
    lr = d2l_sphinx._layout(chain, "dot")
    if lr is None:
        pytest.skip("Graphviz dot not found")
    tb = d2l_sphinx._layout(d2l_sphinx._RANKDIR_LR.sub("rankdir=TB", chain), "dot")
    assert d2l_sphinx.text_px(lr, d2l_sphinx.DESKTOP_COLUMN_PX) < d2l_sphinx.MIN_TEXT_PX  # unreadable LR
    assert d2l_sphinx.text_px(tb, d2l_sphinx.PHONE_COLUMN_PX) >= d2l_sphinx.MIN_TEXT_PX   # readable TB


def test_lectures_01_to_30_have_30_diagrams():
    import yaml
    count = 0
    for md in book.toc_sections():
        text = md.read_text(encoding="utf-8")
        front = re.match(r"^---\n(.*?)\n---\n", text, re.S)
        lectures = (yaml.safe_load(front.group(1)) or {}).get("lectures", []) if front else []
        if lectures and min(lectures) <= 30:
            count += text.count("```{graphviz}")
    assert count >= 30, f"lectures 01–30 have {count} diagrams"
