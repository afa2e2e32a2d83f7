// The download menu (⤓) of every page gets "全书 PDF": book.pdf at the site's root. `python tools/book.py pdf`
// (bash tools/build.sh --pdf) copies it into _build/html, and the Pages workflow publishes it beside the HTML.
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector(".dropdown-download-buttons .dropdown-menu");
  if (!menu) return;
  const root = document.documentElement.dataset.content_root || "";
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = root + "book.pdf";
  link.className = "btn btn-sm dropdown-item d2l-book-pdf";
  link.title = "下载全书 PDF（印刷版式：目录、编号、练习解答在每章末）";
  link.innerHTML = '<span class="btn__icon-container"><i class="fas fa-book"></i></span>' +
    '<span class="btn__text-container">全书 PDF</span>';
  item.appendChild(link);
  menu.appendChild(item);
});
