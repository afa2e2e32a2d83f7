"""The built HTML book in a real browser, clicked through as a reader would (issue 12).

Debian's ``chromium`` driven by the ``playwright`` package (its own browser download does not
work offline, so ``executable_path`` points at the system browser). The pages are the session's
HTML build (``book_build`` in conftest.py, shared with tests/test_html.py), served from 127.0.0.1;
any request that leaves 127.0.0.1 is blocked and counts as a problem: the book must work offline.
Skipped, with the reason, only when playwright is missing or chromium cannot be launched.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("D2L_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE, DESKTOP = 400, 1400
NDARRAY = "chapters/preliminaries/ndarray.html"  # collapsed solutions with executed outputs
MATH = "chapters/linear-networks/linear-regression.html"  # inline and display equations


@pytest.fixture(scope="session")
def browser():
    """Chromium via playwright. Requested before ``site`` so a missing browser skips before the build."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright 未安装 (pip install -r requirements.txt): no browser tests")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"找不到 chromium（{CHROMIUM}）；apt-get install chromium (no browser tests)")
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    except Exception as err:  # noqa: BLE001 - any launch failure means: no browser here
        pw.stop()
        pytest.skip(f"chromium 无法启动 (cannot launch {CHROMIUM}): {str(err).splitlines()[0]}")
    yield chromium
    chromium.close()
    pw.stop()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book_build):
    """The built pages on 127.0.0.1. A build with warnings still has pages (tests/test_html.py
    reports the warnings); only when there are no pages at all are these tests skipped."""
    html, error = book_build
    if not (html / "index.html").is_file():
        pytest.skip(f"网页没有生成，无法做浏览器测试 (the HTML book could not be built):\n{error}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class Visit:
    """One page at one width, with every console error, page error and failed request recorded."""

    def __init__(self, browser, base: str, path: str, width: int):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.problems: list[str] = []
        self.context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:|about:)"),
                           lambda route: (self.problems.append(f"external request {route.request.url}"),
                                          route.abort()))
        self.page = page = self.context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed {r.url}: {r.failure}"))
        page.goto(base + path, wait_until="load")

    def mathjax_done(self) -> None:
        self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        self.page.evaluate("() => MathJax.startup.promise.then(() => true)")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, site):
    opened: list[Visit] = []

    def open_page(path: str, width: int) -> Visit:
        v = Visit(browser, site, path, width)
        opened.append(v)
        return v
    yield open_page
    for v in opened:
        v.close()


def sample_pages(html: Path) -> list[str]:
    """Section pages that show images: the first, a middle and the last one in reading order."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import book
    pages = []
    for md in book.toc_sections():
        rel = md.relative_to(ROOT).with_suffix(".html").as_posix()
        page = html / rel
        if page.is_file() and "<img" in page.read_text(encoding="utf-8"):
            pages.append(rel)
    assert pages, "no page of the book shows an image"
    return sorted({pages[0], pages[len(pages) // 2], pages[-1]}, key=pages.index)


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_menu_button_opens_navigation(visit, width):
    v = visit(NDARRAY, width)
    page = v.page
    menu = page.locator("button.primary-toggle:visible")
    assert menu.count() == 1, "no visible ☰ button"
    # the next part's index page: always shown (a part's sections stay folded unless it is the current part)
    nav_link = "a.reference.internal[href$='linear-networks/index.html']"
    if width == PHONE:  # the table of contents is hidden until ☰ opens it as a dialog
        assert not page.locator(nav_link).first.is_visible()
        menu.click()
        dialog = page.locator("#pst-primary-sidebar-modal")
        dialog.locator(nav_link).first.wait_for(state="visible", timeout=5_000)
        assert dialog.evaluate("d => d.open"), "☰ did not open the navigation"
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('#pst-primary-sidebar-modal').open")
        page.locator("button.secondary-toggle:visible").click()  # the page's own table of contents
        toc = page.locator("#pst-secondary-sidebar-modal")
        toc.locator("#pst-page-toc-nav a").first.wait_for(state="visible", timeout=5_000)
    else:  # the sidebar shows; ☰ hides it and shows it again
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.locator(nav_link).first.is_visible()
        menu.click()
        page.wait_for_function("() => document.querySelector('#pst-primary-sidebar')"
                               ".classList.contains('pst-sidebar-hidden')", timeout=5_000)
        sidebar.locator(nav_link).first.wait_for(state="hidden", timeout=5_000)  # after the slide-out
        menu.click()
        sidebar.locator(nav_link).first.wait_for(state="visible", timeout=5_000)
    assert not v.problems, v.problems


def test_sidebar_names_each_part_once_and_search_box_is_chinese(visit):
    page = visit(NDARRAY, DESKTOP).page
    sidebar = page.locator("#pst-primary-sidebar")
    visible = [t.strip() for t in sidebar.locator("a.reference.internal:visible, p.caption:visible").all_inner_texts()]
    titles = [re.sub(r"^\d+\.\s*", "", t) for t in visible]
    assert "线性神经网络" in titles, visible
    assert titles.count("线性神经网络") == 1, f"the part is named twice in the sidebar: {visible}"
    box = page.locator("input[name='q']").first
    assert re.search(r"[\u4e00-\u9fff]", box.get_attribute("placeholder") or ""), box.get_attribute("placeholder")


def test_collapsed_solution_opens_with_executed_output(visit):
    page = visit(NDARRAY, PHONE).page
    solution = page.locator(".solution.dropdown").first
    output = solution.locator(".cell_output").first
    assert output.count() == 1, "the first solution has no executed output"
    assert not output.is_visible(), "the solution is not collapsed"
    solution.locator(".admonition-title").click()
    output.wait_for(state="visible", timeout=5_000)
    assert output.inner_text().strip(), "the solution's output is empty"


def test_search_finds_convolution(visit):
    page = visit("search.html?q=卷积", DESKTOP).page
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    assert results.count() > 3
    assert "卷积" in page.locator("#search-results").inner_text()


def test_math_is_rendered(visit):
    v = visit(MATH, PHONE)
    v.mathjax_done()
    page = v.page
    assert page.locator("mjx-container").count() > 10, "MathJax rendered nothing"
    assert page.locator("mjx-container[display='true']").count() > 0, "no display equation rendered"
    unrendered = page.evaluate("""() => [...document.querySelectorAll('.bd-article .math')]
        .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60))""")
    assert not unrendered, unrendered
    raw = page.evaluate(r"""() => {
        const article = document.querySelector('.bd-article').cloneNode(true);
        article.querySelectorAll('pre, code, script, mjx-container').forEach(e => e.remove());
        return article.textContent.match(/\$[^$\n]*[\\^_{}][^$\n]*\$|\\\(|\\\[/g) || [];
    }""")
    assert not raw, f"raw TeX left on the page: {raw[:5]}"
    # a wide display equation scrolls inside its box instead of widening the page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_pages_load_cleanly(visit, book_build, width):
    """No console errors, no 404 (favicon included), every image loaded, nothing wider than a phone."""
    problems = []
    for path in [NDARRAY, "chapters/status.html", *sample_pages(book_build[0])]:
        v = visit(path, width)
        page = v.page
        page.evaluate("() => document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=20_000)
        broken = page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
        problems += [f"{path}: {p}" for p in v.problems] + [f"{path}: image not loaded {b}" for b in broken]
        if width == PHONE:
            over = page.evaluate("() => document.documentElement.scrollWidth")
            if over > PHONE:
                problems.append(f"{path}: page is {over} px wide on a {PHONE} px screen")
        v.close()
    assert not problems, "\n".join(problems)


def test_status_metrics_fit_a_phone(visit):
    page = visit("chapters/status.html", PHONE).page
    cells = page.locator("table.d2l-status tbody tr td:last-child")
    assert cells.count() > 10
    rights = cells.evaluate_all("tds => tds.map(td => td.getBoundingClientRect().right)")
    assert max(rights) <= PHONE, f"the metrics column ends at {max(rights):.0f} px on a {PHONE} px screen"


def test_footer_and_favicon(visit):
    page = visit(NDARRAY, DESKTOP).page
    assert "本书作者" not in page.locator("footer").first.inner_text()
    assert page.locator("link[rel='icon']").count() == 1


# ---------------------------------------------------------------------------------------------
# Every page at both widths: equations, diagrams and the page itself fit the reader's screen
# (issue 30; _static/d2l-fit.js, _static/d2l.css, tools/d2l_sphinx.py). Each check is a function
# run in the page, returning what is wrong; each has a negative test below that breaks a page.
# ---------------------------------------------------------------------------------------------

MIN_TEXT_PX = 11
EQUATION_PROBLEMS = r"""(desktop) => {
  const out = [];
  document.querySelectorAll('.bd-article mjx-container[display="true"]').forEach((c, i) => {
    const box = c.closest('div.math') || c.parentElement;
    const name = box.id || `display equation ${i + 1}`;
    const over = c.scrollWidth > c.clientWidth + 1 || box.scrollWidth > box.clientWidth + 1;
    if (!over) return;
    if (desktop) { out.push(`${name} is ${c.scrollWidth} px wide in a ${c.clientWidth} px column`); return; }
    const cue = getComputedStyle(box, '::after').content || '';
    if (!box.classList.contains('d2l-scrolls') || !cue.includes('滑动'))
      out.push(`${name} is cut off without a cue (${c.scrollWidth} px in ${c.clientWidth} px)`);
  });
  return out;
}"""
DIAGRAM_PROBLEMS = r"""(minPx) => {
  const out = [];
  document.querySelectorAll('.bd-article object.graphviz').forEach((o, i) => {
    if (!o.getBoundingClientRect().width || !o.contentDocument) return;  // not shown at this width
    let smallest = Infinity;
    o.contentDocument.querySelectorAll('text').forEach(t => {
      const m = t.getScreenCTM();
      if (m) smallest = Math.min(smallest, parseFloat(t.getAttribute('font-size')) * Math.hypot(m.a, m.b));
    });
    const name = (o.getAttribute('data') || '').split('/').pop();
    if (smallest < minPx) out.push(`${name}: text ${smallest.toFixed(1)} px`);
    const wrap = o.closest('div.graphviz');
    if (wrap && wrap.scrollWidth > wrap.clientWidth + 1) {
      const hint = wrap.nextElementSibling;
      if (!wrap.classList.contains('d2l-scrolls') || !hint || !hint.classList.contains('d2l-scroll-hint'))
        out.push(`${name}: scrolls sideways without a cue`);
    }
  });
  return out;
}"""
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def all_pages(html: Path) -> list[str]:
    return sorted(p.relative_to(html).as_posix() for p in (html / "chapters").rglob("*.html"))


def settle(page) -> None:
    """Wait until MathJax has typeset, d2l-fit.js has fitted the page and every diagram has loaded."""
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax\"]')"):
        page.wait_for_function("() => document.documentElement.dataset.d2lFit === 'done'")
    # a diagram hidden at this width (d2l-graph-wide / -narrow) never loads: wait for the shown ones
    page.wait_for_function("() => [...document.querySelectorAll('object')].filter(o => o.getClientRects().length)"
                           ".every(o => o.contentDocument && o.contentDocument.readyState === 'complete')")
    page.wait_for_timeout(150)  # d2l-fit.js sizes a diagram on its load event


def fit_problems(page, width: int) -> list[str]:
    problems = page.evaluate(EQUATION_PROBLEMS, width == DESKTOP)
    problems += page.evaluate(DIAGRAM_PROBLEMS, MIN_TEXT_PX)
    wide = page.evaluate(PAGE_WIDTH)
    if wide > width:
        problems.append(f"the page is {wide} px wide on a {width} px screen (scrolls sideways)")
    return problems


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_every_page_fits_the_screen(browser, site, book_build, width):
    """At 1400 px no display equation is wider than its column; at 400 px one that is scrolls in its
    box with a visible cue. No diagram text under 11 px; a diagram that scrolls says so. No page
    scrolls sideways."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = []
    try:
        for path in all_pages(book_build[0]):
            page.goto(site + path, wait_until="load")
            settle(page)
            problems += [f"{path}: {p}" for p in fit_problems(page, width)]
    finally:
        context.close()
    assert not problems, f"{len(problems)} problems at {width} px:\n" + "\n".join(problems)


WIDE_PAGE = "chapters/optimization/momentum-adam.html"  # numbered equations and a long LR diagram


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_fit_checks_can_fail(visit, width):
    v = visit(WIDE_PAGE, width)
    page = v.page
    settle(page)
    assert fit_problems(page, width) == []
    # an equation made too wide, its cue taken away
    page.evaluate("""() => { const c = document.querySelector('.bd-article mjx-container[display="true"]');
        c.style.fontSize = '600%'; c.closest('div.math').classList.remove('d2l-scrolls'); }""")
    assert any("equation" in p and ("cut off" in p or "column" in p) for p in page.evaluate(EQUATION_PROBLEMS, width == DESKTOP))
    # a diagram squeezed until its text is tiny
    page.evaluate("""() => { const o = document.querySelector('.bd-article object.graphviz:not(.d2l-graph-narrow)')
        || document.querySelector('.bd-article object.graphviz');
        document.querySelectorAll('.bd-article object.graphviz').forEach(x => { x.style.width = '120px'; x.style.maxWidth = '120px'; }); }""")
    assert any("text" in p for p in page.evaluate(DIAGRAM_PROBLEMS, MIN_TEXT_PX))
    # something that widens the page
    page.evaluate("() => { const d = document.createElement('div'); d.style.width = '3000px'; d.textContent = 'x';"
                  " document.querySelector('.bd-article').appendChild(d); }")
    assert page.evaluate(PAGE_WIDTH) > width


def test_setup_cells_are_folded_and_glue_cells_gone(visit):
    page = visit("chapters/linear-networks/softmax-regression.html", DESKTOP).page
    settle(page)
    setup = page.locator("details.d2l-setup")
    assert setup.count() == 1, "the parameter and Colab cells are not folded"
    assert not page.locator(".cell.tag_parameters").first.is_visible()
    assert "google.colab" not in page.locator(".bd-article").inner_text()  # folded, so not in the visible text
    setup.locator("summary").click()
    assert page.locator(".cell.tag_parameters").first.is_visible()


def test_one_search_box_on_desktop(visit):
    page = visit(NDARRAY, DESKTOP).page
    boxes = page.evaluate("""() => [...document.querySelectorAll('.search-button-field, .search-button__button')]
        .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
                       && getComputedStyle(e).visibility !== 'hidden'; }).length""")
    assert boxes == 1, f"{boxes} search boxes on a wide screen"


def test_search_summaries_are_body_text(visit):
    page = visit("search.html?q=注意力", DESKTOP).page
    page.locator("#search-results ul.search li p.context").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1_000)
    summaries = page.locator("#search-results ul.search li p.context").all_inner_texts()
    assert summaries
    furniture = [s for s in summaries if ".pdf" in s or ".ipynb" in s or re.search(r"目录\s*\d+\.\d+", s)]
    assert not furniture, f"search summaries show page furniture: {furniture[:3]}"
    assert sum("注意力" in s for s in summaries) >= len(summaries) // 2


def test_status_page_headers_and_maintainer_lists(visit):
    page = visit("chapters/status.html", DESKTOP).page
    heights = page.evaluate("""() => [...document.querySelectorAll('table.d2l-status th')]
        .map(th => th.getBoundingClientRect().height / (parseFloat(getComputedStyle(th).lineHeight) || 24))""")
    assert heights and max(heights) < 2.5, f"a header of the status table wraps: {heights}"
    lists = page.locator(".admonition.dropdown:has-text('维护者用')")
    assert lists.count() >= 1, "the maintainers' lists are not folded"
    assert not lists.first.locator("li").first.is_visible()
