"""The airfoil data and the optimisation trainers of lecture 72."""
from __future__ import annotations

import torch

import d2lutils as d2l


def sgd(params, states, hyperparams):
    with torch.no_grad():
        for p in params:
            p -= hyperparams["lr"] * p.grad
            p.grad.zero_()


def test_get_data_ch11_is_standardised():
    data_iter, dim = d2l.get_data_ch11(batch_size=100, n=1500)
    assert dim == 5 and data_iter.num_examples == 1500 and len(data_iter) == 15
    X, y = data_iter.tensors
    assert X.dtype == torch.float32 and y.shape == (1500,)
    # standardised over all 1503 rows, so the first 1500 are close to mean 0, std 1
    assert X.mean(0).abs().max() < 0.05 and (X.std(0) - 1).abs().max() < 0.05
    assert len(d2l.get_data_ch11(10, n=100)[0]) == 10


def test_train_ch11_learns_and_returns_times_and_losses(capsys):
    torch.manual_seed(0)
    data_iter, dim = d2l.get_data_ch11(10)
    times, losses = d2l.train_ch11(sgd, None, {"lr": 0.05}, data_iter, dim, num_epochs=1,
                                   animate=False)
    assert len(times) == len(losses) == 7  # n crosses 200, 400, ..., 1400
    assert times == sorted(times) and losses[-1] < 0.26  # start is about 0.5
    assert "损失" in capsys.readouterr().out


def test_train_concise_full_batch_gd():
    torch.manual_seed(0)
    data_iter, _ = d2l.get_data_ch11(1500)
    _, losses = d2l.train_concise_ch11(torch.optim.SGD, {"lr": 0.1}, data_iter, num_epochs=20,
                                       animate=False)
    assert len(losses) == 20  # every full-batch step crosses a multiple of 200
    assert losses[-1] < 0.26 and losses[-1] < losses[0]


def test_train_2d_and_trace():
    f_grad = lambda x1, x2: (2 * x1, 4 * x2)

    def gd(x1, x2, s1, s2, f_grad):
        g1, g2 = f_grad(x1, x2)
        return x1 - 0.1 * g1, x2 - 0.1 * g2, 0, 0
    results = d2l.train_2d(gd, steps=10, f_grad=f_grad, verbose=False)
    assert len(results) == 11 and results[0] == (-5.0, -2.0)
    assert abs(results[-1][0] - (-5 * 0.8 ** 10)) < 1e-9 and abs(results[-1][1] - (-2 * 0.6 ** 10)) < 1e-9
    ax = d2l.show_trace_2d(lambda a, b: a ** 2 + 2 * b ** 2, results)
    assert len(ax.lines) == 1
    import matplotlib.pyplot as plt
    plt.close("all")


def test_compare_with_torch_detects_agreement_and_mismatch():
    data_iter, dim = d2l.get_data_ch11(50, n=200)
    batches = list(data_iter)
    same = d2l.compare_with_torch(sgd, None, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}, batches, dim)
    other = d2l.compare_with_torch(sgd, None, {"lr": 0.1}, torch.optim.SGD, {"lr": 0.2}, batches, dim)
    assert same < 1e-6 and other > 1e-3


def test_epoch_time_stays_readable_below_a_millisecond():
    from d2lutils.optim import _seconds
    assert _seconds(0.282) == "0.282 秒"
    assert _seconds(0.00035) == "0.35 毫秒"   # was printed as "0.000 秒"
    assert _seconds(0.01) == "0.010 秒"
