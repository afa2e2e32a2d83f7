"""Trainers and metrics on tiny problems that a correct implementation learns quickly."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import d2lutils as d2l


def blobs(n=400, seed=0):
    """Two well separated classes of 1×4×4 'images'."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    X = torch.randn(n, 1, 4, 4, generator=g) * 0.3 + (y.float() * 2 - 1).reshape(-1, 1, 1, 1)
    return X, y


def test_accuracy_and_evaluate():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    y = torch.tensor([1, 0, 0])
    assert d2l.accuracy(y_hat, y) == 2.0
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    X, y = blobs(20)
    acc = d2l.evaluate_accuracy(net, d2l.load_array((X, y), 8, is_train=False))
    with torch.no_grad():
        expected = (net(X).argmax(dim=1) == y).float().mean().item()
    assert acc == pytest.approx(expected)          # the same as counting by hand over all 20 examples
    assert net.training  # evaluation restores the mode


def test_evaluate_loss():
    net = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(net.weight)
    X, y = torch.ones(6, 1), torch.full((6,), 2.0)
    loss = nn.MSELoss(reduction="none")
    assert d2l.evaluate_loss(net, d2l.load_array((X, y), 4, False), loss) == pytest.approx(4.0)


def test_train_ch3_with_optimizer_learns_and_reports(capsys):
    torch.manual_seed(0)
    X, y = blobs()
    train_iter = d2l.load_array((X[:300], y[:300]), 32)
    test_iter = d2l.load_array((X[300:], y[300:]), 100, is_train=False)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    hist = d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(), 3,
                         torch.optim.SGD(net.parameters(), lr=0.1))
    assert len(hist.train_loss) == len(hist.test_acc) == 3
    assert hist.test_acc[-1] > 0.95 and hist.train_loss[-1] < hist.train_loss[0]
    out = capsys.readouterr().out
    assert re.search(r"^训练损失 \d\.\d{3}, 训练精度 \d\.\d{3}, 测试精度 \d\.\d{3}$", out, re.M)
    assert hist.final["test_acc"] == hist.test_acc[-1] and hist.examples_per_sec > 0


def test_train_ch3_with_scratch_updater():
    torch.manual_seed(0)
    X, y = blobs()
    W = torch.zeros(16, 2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)

    def net(X):
        return X.reshape(-1, 16) @ W + b

    def loss(y_hat, y):  # per-example loss, summed by the trainer
        return nn.functional.cross_entropy(y_hat, y, reduction="none")

    hist = d2l.train_ch3(net, d2l.load_array((X, y), 32), d2l.load_array((X, y), 100, False), loss, 2,
                         lambda batch_size: d2l.sgd([W, b], 0.1, batch_size), animate=False)
    assert hist.train_acc[-1] > 0.95


def test_train_ch6_cnn_on_cpu(capsys):
    torch.manual_seed(0)
    X, y = blobs()
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    hist = d2l.train_ch6(net, d2l.load_array((X, y), 32), d2l.load_array((X, y), 100, False), 2, 0.1,
                         torch.device("cpu"), channels_last=True, amp=True)
    assert hist.test_acc[-1] > 0.95 and hist.device == "cpu"
    out = capsys.readouterr().out
    assert re.search(r"^[\d.]+ 样本/秒 \(cpu\)$", out, re.M)


def test_channels_last_default_on_cpu_for_conv_models_only():
    cpu = torch.device("cpu")
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.SGD(conv.parameters(), lr=0.1)
    weight = conv[0].weight
    assert d2l.train.use_channels_last(conv, cpu) is True
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert conv[0].weight is weight and opt.param_groups[0]["params"][0] is weight  # optimizer still sees it
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    assert d2l.train.use_channels_last(mlp, cpu) is False
    plain = nn.Sequential(nn.Conv2d(1, 4, 3))
    assert d2l.train.use_channels_last(plain, cpu, channels_last=False) is False
    assert plain[0].weight.is_contiguous()                                       # left in NCHW when told
    assert d2l.train.use_channels_last(nn.Conv2d(1, 4, 3), torch.device("meta")) is False  # not the CPU


def test_channels_last_trains_like_nchw(capsys):
    """NHWC changes the memory order only: the same seed gives the same training run (to rounding)."""
    X, y = blobs()
    runs = []
    for cl in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
        runs.append(d2l.train_ch6(net, d2l.load_array((X, y), 32, is_train=False),
                                  d2l.load_array((X, y), 100, False), 2, 0.1, torch.device("cpu"),
                                  channels_last=cl, animate=False))
    assert runs[0].train_loss == pytest.approx(runs[1].train_loss, rel=1e-4)
    assert runs[0].test_acc == pytest.approx(runs[1].test_acc, abs=1e-2)


def test_predict_ch3_returns_predictions():
    train_iter, test_iter = d2l.load_data_fashion_mnist(8, device="cpu", subset=8, test_subset=8)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    preds = d2l.predict_ch3(net, test_iter, n=4)
    assert preds.shape == (4,) and preds.dtype == torch.int64
    import matplotlib.pyplot as plt
    plt.close("all")
