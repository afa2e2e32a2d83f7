"""Figures the helpers draw speak the book's Chinese (TERMINOLOGY.md: 轮, 损失, 训练精度, 测试精度, 困惑度 …).

Two ways to look:
* by drawing: the trainers and plot helpers run on tiny data, and every axis label, title and legend
  entry of every figure they make is read back;
* by reading the source: every string a helper in ``d2lutils/`` hands to an axis label, title or
  legend (``Animator(xlabel=…, legend=[…])``, ``ax.set_xlabel(…)``, …), so helpers too slow or too
  data-hungry to run here (train_ch8, train_seq2seq, train_bert, the segmentation and detection
  trainers) are held to the same rule.

Notation stays: math (``$x_1$``), single letters with digits (x1, x₁), and names that are names
(SGD, Adam, BLEU, IoU, …; see NAMES).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

import d2lutils as d2l  # noqa: E402
from d2lutils import plotting  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# names that stay as they are in Chinese text
NAMES = {"SGD", "Adam", "Adagrad", "RMSProp", "AdamW", "BLEU", "IoU", "mIoU", "MLM", "NSP", "ReLU", "GRU",
         "LSTM", "RNN", "CNN", "MLP", "FCN", "SSD", "BERT", "GPU", "CPU", "softmax", "sigmoid", "tanh",
         "Transformer", "ResNet", "LeNet", "AlexNet", "VGG", "NiN", "GoogLeNet", "Fashion-MNIST", "MNIST",
         "ImageNet", "MSE", "MAE", "BN", "GD", "log", "log-rmse", "sin", "cos", "exp", "top"}
LABEL_KWARGS = {"xlabel", "ylabel", "title", "titles", "legend", "label", "suptitle"}
LABEL_METHODS = {"set_xlabel", "set_ylabel", "set_title", "legend", "suptitle", "set_label"}


def english_words(text: str) -> list[str]:
    """The English words in a label: what is left after math ($…$), names and symbols like x1."""
    text = re.sub(r"\$[^$]*\$", " ", text)
    words = re.findall(r"[A-Za-z][A-Za-z-]*[A-Za-z]", text)
    return [w for w in words if w not in NAMES and not re.fullmatch(r"[A-Za-z]\d*", w)]


def figure_texts(fig) -> list[str]:
    texts = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
    for ax in fig.axes:
        texts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in texts if t]


@pytest.fixture
def figures(monkeypatch):
    """Every figure drawn in the test: pyplot's, and the Animators' own (made without pyplot)."""
    animators = []
    init = plotting.Animator.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        animators.append(self)
    monkeypatch.setattr(plotting.Animator, "__init__", recording_init)
    plt.close("all")
    yield lambda: [plt.figure(n) for n in plt.get_fignums()] + [a.fig for a in animators]
    plt.close("all")


def _tiny_images(n=32, classes=10, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, size, size, generator=g)
    y = torch.arange(n) % classes
    return d2l.load_array((X, y), 8), d2l.load_array((X, y), 8, is_train=False)


def _english_in(figs) -> list[str]:
    return [f"{t!r}: {english_words(t)}" for fig in figs for t in figure_texts(fig) if english_words(t)]


def test_trainers_and_plots_draw_chinese_labels(figures, one_thread, capsys):
    train_iter, test_iter = _tiny_images()
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction="none"), 1,
                  torch.optim.SGD(net.parameters(), lr=0.1))
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 10))
    d2l.train_ch6(conv, train_iter, test_iter, 1, 0.1, torch.device("cpu"))
    d2l.predict_ch3(net, test_iter, n=4)
    d2l.show_trace_2d(lambda x1, x2: x1 ** 2 + 2 * x2 ** 2, [(-5.0, -2.0), (-4.0, -1.0)])
    d2l.show_images(torch.rand(2, 8, 8), 1, 2, titles=d2l.get_fashion_mnist_labels(torch.tensor([0, 9])))
    figs = figures()
    assert len(figs) >= 5
    texts = [t for fig in figs for t in figure_texts(fig)]
    for term in ("轮", "训练损失", "测试精度", "T恤"):
        assert any(term in t for t in texts), f"no figure says {term}: {texts}"
    english = _english_in(figs)
    assert not english, "English in the helpers' figures:\n" + "\n".join(english)


def _strings(node) -> list[str]:
    """String constants in an expression (f-strings: their literal parts)."""
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def source_labels(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every literal a module hands to a figure as a label, title or legend entry,
    also through a local variable (``legend = ["train loss", …]; Animator(legend=legend)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] or [tree]:
        assigned: dict[str, list[ast.AST]] = {}
        for n in ast.walk(func):
            if isinstance(n, ast.Assign):
                for target in n.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(n.value)
        for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            values = [k.value for k in call.keywords if k.arg in LABEL_KWARGS]
            if name in LABEL_METHODS:
                values += call.args[:1]
            elif name == "plot" and (isinstance(call.func, ast.Name) or getattr(call.func.value, "id", "") == "d2l"):
                values += call.args[2:5]  # d2l.plot(X, Y, xlabel, ylabel, legend, ...), not matplotlib's
            elif name == "set_axes":  # set_axes(axes, xlabel, ylabel, ...)
                values += call.args[1:3]
            for value in values:
                exprs = assigned.get(value.id, []) if isinstance(value, ast.Name) else [value]
                found += [(call.lineno, s) for e in exprs for s in _strings(e)]
    return found


HELPERS = sorted((ROOT / "d2lutils").glob("*.py"))


@pytest.mark.parametrize("path", HELPERS, ids=lambda p: p.name)
def test_helper_source_labels_are_chinese(path: Path):
    english = [f"{path.name}:{line}: {text!r}" for line, text in source_labels(path) if english_words(text)]
    assert not english, "English axis label / legend / title in a helper:\n" + "\n".join(english)


def chapter_code(md: Path) -> str:
    """The code cells of a section as one Python module (shell and magic lines become ``pass``)."""
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", md.read_text(encoding="utf-8"), re.S)
    return "\n\n\n".join("\n".join(re.sub(r"^(\s*)[!%].*", r"\1pass", line) for line in cell.split("\n")
                                if not line.startswith(":")) for cell in cells)


@pytest.mark.parametrize("md", sorted((ROOT / "chapters").glob("*/*.md")), ids=lambda p: p.stem)
def test_chapter_plot_labels_are_chinese(md: Path, tmp_path):
    """Plots drawn in a section's own code follow the same rule (labels given as literals)."""
    module = tmp_path / "section.py"
    module.write_text(chapter_code(md), encoding="utf-8")
    try:
        labels = source_labels(module)
    except SyntaxError:  # one cell that is not plain Python: check cell by cell
        labels = []
        for cell in chapter_code(md).split("\n\n\n"):
            module.write_text(cell, encoding="utf-8")
            try:
                labels += source_labels(module)
            except SyntaxError:
                pass
    english = [f"{text!r}" for _, text in labels if english_words(text)]
    assert not english, f"{md.relative_to(ROOT)}: English labels in its plots: " + ", ".join(english)


def test_the_checks_can_fail(tmp_path, figures):
    """An English label is found both in a drawn figure and in a helper's source."""
    assert english_words("train loss") == ["train", "loss"]
    assert english_words("$x_1$") == [] and english_words("x1") == [] and english_words("Adam 的学习率") == []
    anim = d2l.Animator(xlabel="epoch", legend=["train loss", "训练精度"])
    anim.add(1, (0.5, 0.6))
    d2l.plot([1, 2], [[1, 2]], xlabel="轮", ylabel="perplexity")
    english = _english_in(figures())
    assert len(english) == 3, english  # epoch, train loss, perplexity
    module = tmp_path / "helper.py"
    module.write_text("def train():\n    legend = ['train loss', '测试精度']\n"
                      "    animator = Animator(xlabel='epoch', legend=legend)\n"
                      "    ax.set_title('测试')\n    ax.set_ylabel('perplexity')\n", encoding="utf-8")
    texts = [t for _, t in source_labels(module) if english_words(t)]
    assert sorted(texts) == ["epoch", "perplexity", "train loss"], texts
