"""Figures: Chinese font, plot, show_images, Animator (headless, PNG)."""
from __future__ import annotations

import warnings

import matplotlib
import pytest
import torch
from matplotlib import font_manager
from matplotlib import pyplot as plt

import d2lutils as d2l


def test_chinese_font_settings():
    d2l.use_chinese_font()
    from matplotlib import font_manager
    # the font matplotlib actually picks for Chinese text has CJK glyphs (not DejaVu's empty boxes)
    path = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    assert "DejaVu" not in path, f"no CJK font found, would fall back to {path}"
    assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_chinese_text_renders_without_missing_glyphs(tmp_path):
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any("CJK" in n for n in names):
        pytest.skip("no CJK font installed (tools/env.sh installs fonts-noto-cjk as root)")
    d2l.use_chinese_font()
    fig, ax = plt.subplots()
    ax.set_title("训练损失")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing" would raise
        fig.savefig(tmp_path / "zh.png")
    plt.close(fig)


def test_plot_curves_returns_axes():
    x = torch.arange(0, 3, 0.5)
    ax = d2l.plot(x, [x, x ** 2], "x", "f(x)", legend=["x", "x²"], xlim=[0, 3])
    assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "x"
    assert ax.get_legend() is not None
    ax = d2l.plot([1.0, 2.0, 3.0])  # only Y
    assert list(ax.get_lines()[0].get_ydata()) == [1.0, 2.0, 3.0]
    plt.close("all")


def test_set_figsize():
    d2l.set_figsize((4, 3))
    assert tuple(plt.rcParams["figure.figsize"]) == (4, 3)


def test_show_images_titles():
    axes = d2l.show_images(torch.rand(4, 8, 8), 2, 2, titles=["a", "b", "c", "d"])
    assert len(axes) == 4 and axes[3].get_title() == "d"
    plt.close("all")


def test_animator_collects_and_saves_png(tmp_path):
    anim = d2l.Animator(xlabel="epoch", legend=["loss", "acc"], xlim=[1, 3])
    for epoch in range(1, 4):
        anim.add(epoch, (1.0 / epoch, 0.5 + 0.1 * epoch))
    assert anim.X == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    assert anim.Y[0][-1] == pytest.approx(1 / 3)
    out = tmp_path / "a.png"
    anim.save(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(anim.axes[0].get_lines()) == 2


def test_plot_then_scatter_stays_visible():
    """d2l.plot must not freeze the limits: points added afterwards are inside the view."""
    x = torch.randn(200, 2) * 5 + 20
    ax = d2l.plot([], [], xlabel="x", ylabel="y")
    ax.scatter(x[:, 0], x[:, 1], s=1)
    assert d2l.empty_axes(ax.figure) == []
    lo, hi = ax.get_xlim()
    assert lo <= float(x[:, 0].min()) and hi >= float(x[:, 0].max())
    plt.close("all")


def test_empty_axes_detects_nothing_drawn_and_data_outside_view():
    fig, (a, b, c) = plt.subplots(1, 3)
    b.plot([0, 1], [0, 1])
    c.scatter([50, 60], [50, 60])
    c.set_xlim(0, 1)
    c.set_ylim(0, 1)
    assert d2l.empty_axes(fig) == [0, 2]
    a.axis("off")  # an axes switched off on purpose is not reported
    assert d2l.empty_axes(fig) == [2]
    plt.close("all")


def test_colorbar_and_mesh_are_not_reported_empty():
    fig, ax = plt.subplots()
    mesh = ax.pcolormesh(torch.rand(4, 5).numpy() + 3)  # values away from 0
    fig.colorbar(mesh, ax=ax)
    assert d2l.empty_axes(fig) == []
    plt.close("all")
