"""Plotting helpers: Chinese font, PNG output, plot, show_images, Animator."""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

# Fonts tried in order; the first that exists provides the CJK glyphs.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC",
             "Arial Unicode MS", "DejaVu Sans"]


def _ipython_kernel():
    """The running IPython kernel shell, or None in a plain script."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "kernel") else None


def _has_cjk_font() -> bool:
    from matplotlib import font_manager
    names = {f.name for f in font_manager.fontManager.ttflist}
    return any(name in names for name in CJK_FONTS[:-1])


def _install_cjk_font_on_colab() -> None:
    """Colab has no CJK font: install Debian's fonts-noto-cjk there and register it with matplotlib."""
    import glob
    import shutil
    import subprocess
    import sys
    if "google.colab" not in sys.modules or _has_cjk_font() or not shutil.which("apt-get"):
        return
    print("正在为 Colab 安装中文字体 fonts-noto-cjk（只需一次，约 1 分钟）…")
    subprocess.run(["apt-get", "-qq", "install", "-y", "fonts-noto-cjk"], capture_output=True)
    from matplotlib import font_manager
    for path in glob.glob("/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc"):
        font_manager.fontManager.addfont(path)


def use_chinese_font() -> None:
    """Let matplotlib draw Chinese labels (Noto Sans CJK SC first) and a plain minus sign.

    On Colab, where no CJK font is installed, it first installs Debian's ``fonts-noto-cjk``.
    """
    _install_cjk_font_on_colab()
    matplotlib.rcParams["font.sans-serif"] = CJK_FONTS
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False


def use_png() -> None:
    """Show figures as PNG in Jupyter (no effect in scripts)."""
    if _ipython_kernel() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")


def _shows_something(ax) -> bool:
    """True when some line point or scatter point lies inside the view, or an image/patch is drawn."""
    import numpy as np
    if ax.images or ax.patches:
        return True
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    if getattr(ax, "_colorbar", None) is not None:  # a colorbar's axes
        return True
    from matplotlib.collections import PathCollection
    points = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    for xy in [line.get_xydata() for line in ax.lines] + points:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2) if np.size(xy) else np.empty((0, 2))
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        if inside.any():
            return True
    # other collections (fill_between, contour, pcolormesh) count when their data overlaps the view
    return any(not isinstance(c, PathCollection) for c in ax.collections) and ax.dataLim.overlaps(ax.viewLim)


def empty_axes(fig) -> list[int]:
    """Indices of the visible axes of ``fig`` that show no data inside their view limits."""
    return [i for i, ax in enumerate(fig.axes)
            if ax.get_visible() and ax.axison and not _shows_something(ax)]


def _warn_on_empty_figures() -> None:
    """Before Jupyter shows the cell's figures: complain (on stderr) about empty axes."""
    import warnings
    for num in plt.get_fignums():
        fig = plt.figure(num)
        empty = empty_axes(fig)
        if empty:
            warnings.warn(f"图中有空白的坐标系（empty axes {empty} in figure {num}）：数据没有画进图里，"
                          "检查是否在显示之后才添加数据或把坐标范围固定在了数据之外。", stacklevel=1)


def check_figures_not_empty() -> None:
    """Make every cell warn about empty axes before its figures are shown (idempotent)."""
    shell = _ipython_kernel()
    if shell is None:
        return
    callbacks = shell.events.callbacks["post_execute"]
    if _warn_on_empty_figures not in callbacks:
        callbacks.insert(0, _warn_on_empty_figures)  # before matplotlib-inline's flush_figures


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default figure size."""
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel=None, ylabel=None, xlim=None, ylim=None,
             xscale="linear", yscale="linear", legend=None) -> None:
    """Set labels, limits, scales and legend of one matplotlib axes."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    # set_xlim(None) would freeze the current limits and switch autoscaling off, so that data
    # added later (e.g. a scatter on the returned axes) falls outside the view: only set given limits.
    if xlim is not None:
        axes.set_xlim(xlim)
    if ylim is not None:
        axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _as_list(v):
    if hasattr(v, "detach"):
        v = v.detach().cpu()
    return list(v)


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
         figsize=(3.5, 2.5), axes=None):
    """Plot one or several curves (d2l's ``plot``); returns the axes."""
    def has_one_axis(v):
        return (hasattr(v, "ndim") and v.ndim == 1) or (
            isinstance(v, list) and (not v or not hasattr(v[0], "__len__")))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    if axes is None:
        _, axes = plt.subplots(figsize=figsize)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        x, y = _as_list(x), _as_list(y)
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    return axes


def show_images(imgs, num_rows: int, num_cols: int, titles: Optional[Sequence[str]] = None,
                scale: float = 1.5):
    """Show a grid of images (tensors or arrays); returns the flat list of axes."""
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if hasattr(img, "detach"):
            img = img.detach().cpu().numpy()
        ax.imshow(img, cmap="gray" if getattr(img, "ndim", 3) == 2 else None)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i])
    return axes


class Animator:
    """Draw curves that grow during training.

    In Jupyter the figure is shown once and then updated in place, so a saved
    notebook keeps only the final frame.  In a script nothing is shown; call
    ``save(path)`` to write a PNG.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows: int = 1, ncols: int = 1, figsize=(3.5, 2.5)) -> None:
        # A Figure made without pyplot is not shown again at the end of the cell.
        self.fig = Figure(figsize=figsize)
        axes = self.fig.subplots(nrows, ncols, squeeze=False).flatten()
        self.axes = axes
        self._config = lambda: set_axes(axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.X: Optional[list[list[float]]] = None
        self.Y: Optional[list[list[float]]] = None
        self.fmts = fmts
        self._handle = None

    def add(self, x, y) -> None:
        """Add one point to each curve (``y`` may be a list, one value per curve)."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if self.X is None:
            self.X = [[] for _ in range(n)]
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        self._draw()
        self._display()

    def _draw(self) -> None:
        ax = self.axes[0]
        ax.cla()
        for x, y, fmt in zip(self.X, self.Y, self.fmts):
            ax.plot(x, y, fmt)
        self._config()

    def _display(self) -> None:
        if _ipython_kernel() is None:
            return
        from IPython.display import display
        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)

    def save(self, path) -> None:
        """Write the current figure as PNG."""
        self.fig.savefig(path, format="png")
