/* Make wide content fit the reader's screen, and keep run plumbing and page furniture out of the way.
 *
 * - Display equations (MathJax 3, CHTML): one that is wider than its column is first shrunk, down to
 *   80 % of its size; one that still does not fit scrolls inside its own box, and the box gets the class
 *   d2l-scrolls (_static/d2l.css: visible scrollbar, edge shadows, "⇆ 公式较长，可左右滑动查看" below).
 *   Never cut off silently. Redone when the window changes width.
 * - Inline formulas wider than their line get a small scroll box of their own (class d2l-inline-scroll).
 * - Graphviz diagrams (<object> SVG): a diagram scaled down so far that its smallest text is under
 *   MIN_TEXT_PX is drawn at the width that keeps the text readable and scrolls sideways, with a hint.
 * - The parameter cell and the Colab install cell at the top of a section fold into one quiet line.
 * - Sphinx's search summaries are taken from the article's body text, not from the page furniture
 *   (download menu, page table of contents) that [role=main] also holds.
 */
(function () {
  "use strict";
  var MIN_SCALE = 0.8;     // a display equation is shrunk at most to this, then it scrolls
  var MIN_TEXT_PX = 11;    // smallest diagram text a reader should have to read

  function isWide(el) { return el.scrollWidth > el.clientWidth + 1; }

  function markScroll(box, on) {
    box.classList.toggle("d2l-scrolls", on);
    if (on) box.setAttribute("tabindex", "0");  // a keyboard reader can scroll it too
  }

  function fitEquations() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (c) {
      var box = c.closest("div.math") || c.parentElement;
      if (!c.dataset.d2lSize) c.dataset.d2lSize = c.style.fontSize || "100%";
      c.style.fontSize = c.dataset.d2lSize;          // start from MathJax's own size
      markScroll(box, false);
      if (!c.clientWidth || !isWide(c)) return;
      var scale = Math.max(MIN_SCALE, (c.clientWidth - 2) / c.scrollWidth);
      c.style.fontSize = "calc(" + c.dataset.d2lSize + " * " + scale.toFixed(3) + ")";
      markScroll(box, isWide(c));
    });
    document.querySelectorAll('.bd-article mjx-container:not([display="true"])').forEach(function (c) {
      c.classList.remove("d2l-inline-scroll");
      var room = Infinity;  // the narrowest box it sits in (a caption's <p> is an inline-block as wide as it)
      for (var a = c.parentElement; a && !a.classList.contains("bd-article"); a = a.parentElement) {
        if (a.clientWidth) room = Math.min(room, a.clientWidth);
      }
      if (c.getBoundingClientRect().width > room + 1) c.classList.add("d2l-inline-scroll");
    });
  }

  function smallestText(obj) {
    var doc = obj.contentDocument;
    if (!doc) return null;
    var smallest = Infinity;
    doc.querySelectorAll("text").forEach(function (t) {
      var m = t.getScreenCTM();
      var size = parseFloat(t.getAttribute("font-size") || getComputedStyle(t).fontSize);
      if (m && size) smallest = Math.min(smallest, size * Math.hypot(m.a, m.b));
    });
    return smallest === Infinity ? null : smallest;
  }

  function fitDiagram(obj) {
    var wrap = obj.closest("div.graphviz") || obj.parentElement;
    obj.style.width = "";
    markScroll(wrap, false);
    var hint = wrap.nextElementSibling;
    if (hint && hint.classList.contains("d2l-scroll-hint")) hint.remove();
    if (!obj.getBoundingClientRect().width) return;  // not shown at this width
    var smallest = smallestText(obj);
    if (smallest === null || smallest >= MIN_TEXT_PX) return;
    obj.style.width = Math.ceil(obj.getBoundingClientRect().width * (MIN_TEXT_PX + 0.2) / smallest) + "px";
    markScroll(wrap, true);  // lifts max-width from the diagram, so it can be measured
    markScroll(wrap, isWide(wrap));
    if (isWide(wrap)) {
      hint = document.createElement("div");
      hint.className = "d2l-scroll-hint";
      hint.textContent = "⇆ 图较宽，可左右滑动查看";
      wrap.after(hint);
    }
  }

  function fitDiagrams() {
    document.querySelectorAll("object.graphviz").forEach(function (obj) {
      if (obj.contentDocument && obj.contentDocument.querySelector("svg")) fitDiagram(obj);
      else obj.addEventListener("load", function () { fitDiagram(obj); }, {once: true});
    });
  }

  function foldSetupCells() {
    var article = document.querySelector(".bd-article");
    if (!article || article.querySelector("details.d2l-setup")) return;
    var cells = Array.prototype.slice.call(article.querySelectorAll("div.cell")).filter(function (cell) {
      var code = cell.querySelector(".cell_input");
      return cell.classList.contains("tag_parameters") ||
        (code && /"google\.colab" in sys\.modules/.test(code.textContent) && !cell.querySelector(".cell_output"));
    });
    if (!cells.length) return;
    var details = document.createElement("details");
    details.className = "d2l-setup";
    var summary = document.createElement("summary");
    summary.textContent = "运行设置（运行参数；在 Colab 中安装辅助包）";
    details.appendChild(summary);
    cells[0].before(details);
    cells.forEach(function (cell) { details.appendChild(cell); });
  }

  function articleSearchText() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.d2lArticleText) return;
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll(".headerlink, script, style, .cell.tag_parameters, .cell_output, .caption-number")
        .forEach(function (el) { el.remove(); });
      var main = doc.querySelector("article.bd-article") || doc.querySelector('[role="main"]');
      if (!main) return "";
      var part = anchor ? main.querySelector(anchor) : null;
      return ((part || main).textContent || "").replace(/\s+/g, " ");
    };
    Search.d2lArticleText = true;
  }

  var pending = null;
  function refit() {
    clearTimeout(pending);
    pending = setTimeout(function () { fitEquations(); fitDiagrams(); }, 100);
  }

  function start() {
    foldSetupCells();
    articleSearchText();
    fitDiagrams();
    whenMathIsTypeset(fitEquations);
    window.addEventListener("resize", refit);
  }

  /* MathJax (deferred) typesets after DOMContentLoaded; html[data-d2l-fit] tells tests it is done */
  function whenMathIsTypeset(fn) {
    var done = function () { fn(); document.documentElement.dataset.d2lFit = "done"; };
    if (!document.querySelector('script[src*="mathjax"]')) return done();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(done);
    else window.addEventListener("load", function () { whenMathIsTypeset(fn); }, {once: true});
  }

  articleSearchText();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.addEventListener("load", fitDiagrams);
})();
