/* Navigation buttons of sphinx-book-theme 1.3 + pydata-sphinx-theme 0.17.
 *
 * Both themes bind their click handlers with document.querySelector(".primary-toggle") (and
 * ".secondary-toggle"), which finds pydata's own navbar button first. sphinx-book-theme hides that
 * navbar, so the visible ☰ and page-TOC buttons in the article header have no handler at all and
 * do nothing at any width. Forward their clicks to the button the themes did bind: on a wide
 * screen that toggles the sidebar, on a narrow one it opens the sidebar as a dialog.
 * The same script puts Chinese labels on the theme's English tooltips.
 */
(function () {
  "use strict";
  function forward(selector) {
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest(selector) : null;
      var bound = document.querySelector(selector);
      if (!button || !bound || button === bound) return;
      event.preventDefault();
      event.stopPropagation();
      bound.click();
      button.blur();
    }, true);
  }
  forward(".primary-toggle");
  forward(".secondary-toggle");

  var labels = {
    "Toggle primary sidebar": "显示/隐藏目录",
    "Toggle secondary sidebar": "显示/隐藏本页目录",
    "Launch interactive content": "在线运行",
    "Download this page": "下载此页面",
    "Download source file": "下载源文件",
    "Print to PDF": "打印为 PDF",
    "Fullscreen mode": "全屏",
    "Source repositories": "源代码仓库",
    "Source repository": "源代码仓库",
    "Color mode": "颜色模式",
    "System Settings": "跟随系统",
    "Search": "搜索",
    "Toggle hidden content": "显示/隐藏内容",
    "Copy": "复制",
    "Copy to clipboard": "复制到剪贴板",
    "Launch on Colab": "在 Colab 中运行",
    "Link to this heading": "链接到本标题",
    "Link to this image": "链接到本图",
    "Link to this equation": "链接到本公式",
    "Link to this table": "链接到本表",
    "Link to this code": "链接到本代码",
    "Main": "全书目录",
    "Page": "本页目录"
  };
  var attrs = ["aria-label", "title", "data-bs-title", "data-bs-original-title", "data-tooltip"];
  function translate() {
    document.querySelectorAll("[aria-label], [title], [data-bs-title], [data-bs-original-title], [data-tooltip]")
      .forEach(function (el) {
        attrs.forEach(function (a) {
          var v = el.getAttribute(a);
          if (v && Object.prototype.hasOwnProperty.call(labels, v.trim())) el.setAttribute(a, labels[v.trim()]);
        });
      });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", translate);
  else translate();
  window.addEventListener("load", translate);
})();
