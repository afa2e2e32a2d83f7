"""Optimisation algorithms of lecture 72: the airfoil data and the trainers of d2l's chapter 11.

``get_data_ch11`` standardises NASA's airfoil self-noise data; ``train_ch11`` trains linear
regression with a from-scratch update ``trainer_fn(params, states, hyperparams)``;
``train_concise_ch11`` does the same with a ``torch.optim`` optimiser class; ``train_2d`` and
``show_trace_2d`` follow an optimiser on a 2-D function.  The trainers return their results and
print one summary line ``损失 0.243, 每轮 0.012 秒`` (milliseconds below 0.01 s: ``每轮 0.35 毫秒``).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from . import checks
from .arrays import ArrayLoader, linreg, load_array, squared_loss
from .hub import fetch
from .plotting import Animator, plt, set_figsize
from .train import evaluate_loss
from .utils import Timer


def _seconds(t: float) -> str:
    """A duration that stays readable below a millisecond: ``0.012 秒`` or ``0.35 毫秒``."""
    return f"{t:.3f} 秒" if t >= 0.01 else f"{t * 1e3:.2f} 毫秒"


def read_airfoil(n: int = 1500) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` airfoil examples, every column standardised; returns ``(features, labels)``."""
    checks.positive_int("n", n)
    data = np.genfromtxt(fetch("airfoil_self_noise.dat"), dtype=np.float32, delimiter="\t")
    data = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))
    return data[:n, :-1], data[:n, -1]


def get_data_ch11(batch_size: int = 10, n: int = 1500) -> tuple[ArrayLoader, int]:
    """Minibatches of the standardised airfoil data; returns ``(data_iter, feature_dim)``."""
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("n", n)
    features, labels = read_airfoil(n)
    return load_array((features, labels), batch_size, is_train=True), features.shape[1]


def _record_points(n_before: int, n_after: int, every: int) -> bool:
    """True when the count of seen examples crossed a multiple of ``every``."""
    return n_after // every > n_before // every


def train_ch11(trainer_fn: Callable, states, hyperparams: dict, data_iter, feature_dim: int,
               num_epochs: int = 2, *, record_every: int = 200, animate: bool = True
               ) -> tuple[list[float], list[float]]:
    """Train linear regression with a from-scratch optimiser (d2l's ``train_ch11``).

    ``trainer_fn([w, b], states, hyperparams)`` updates the parameters in place from their
    ``.grad`` (the gradient of the minibatch *mean* loss) and zeroes the gradients.  Every
    ``record_every`` examples the loss on the whole data set is recorded (timing excludes it).
    Returns ``(times, losses)``: cumulative training seconds and the recorded losses.
    """
    checks.positive_int("feature_dim", feature_dim)
    checks.positive_int("num_epochs", num_epochs)
    checks.positive_int("record_every", record_every)
    w = torch.normal(0.0, 0.01, size=(feature_dim, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    net, loss = (lambda X: linreg(X, w, b)), squared_loss
    steps_per_epoch = len(data_iter)
    animator = Animator(xlabel="轮", ylabel="损失", xlim=[0, num_epochs], ylim=[0.22, 0.35]) \
        if animate else None
    losses: list[float] = []
    epochs: list[float] = []
    n, steps, timer = 0, 0, Timer()
    for _ in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y).mean()
            l.backward()
            trainer_fn([w, b], states, hyperparams)
            steps += 1
            n_before, n = n, n + X.shape[0]
            if _record_points(n_before, n, record_every):
                timer.stop()
                epochs.append(steps / steps_per_epoch)
                losses.append(evaluate_loss(net, data_iter, loss))
                if animator is not None:
                    animator.add(epochs[-1], losses[-1])
                timer.start()
    timer.stop()
    print(f"损失 {losses[-1]:.3f}, 每轮 {_seconds(timer.sum() / num_epochs)}")
    return timer.cumsum()[:len(losses)], losses


def train_concise_ch11(trainer_fn: Callable, hyperparams: dict, data_iter, num_epochs: int = 4, *,
                       record_every: int = 200, animate: bool = True
                       ) -> tuple[list[float], list[float]]:
    """Train linear regression with ``trainer_fn(net.parameters(), **hyperparams)``, e.g. ``torch.optim.SGD``.

    Returns ``(times, losses)`` like :func:`train_ch11` (losses are half the mean squared error).
    """
    checks.positive_int("num_epochs", num_epochs)
    checks.positive_int("record_every", record_every)
    feature_dim = data_iter.tensors[0].shape[1] if hasattr(data_iter, "tensors") \
        else next(iter(data_iter))[0].shape[1]
    net = nn.Sequential(nn.Linear(feature_dim, 1))
    nn.init.normal_(net[0].weight, std=0.01)
    nn.init.zeros_(net[0].bias)
    optimizer = trainer_fn(net.parameters(), **hyperparams)
    loss = nn.MSELoss(reduction="none")
    steps_per_epoch = len(data_iter)
    animator = Animator(xlabel="轮", ylabel="损失", xlim=[0, num_epochs], ylim=[0.22, 0.35]) \
        if animate else None
    losses: list[float] = []
    n, steps, timer = 0, 0, Timer()
    for _ in range(num_epochs):
        for X, y in data_iter:
            optimizer.zero_grad()
            out = net(X)
            l = loss(out, y.reshape(out.shape))
            l.mean().backward()
            optimizer.step()
            steps += 1
            n_before, n = n, n + X.shape[0]
            if _record_points(n_before, n, record_every):
                timer.stop()
                losses.append(evaluate_loss(net, data_iter, loss) / 2)
                if animator is not None:
                    animator.add(steps / steps_per_epoch, losses[-1])
                timer.start()
    timer.stop()
    print(f"损失 {losses[-1]:.3f}, 每轮 {_seconds(timer.sum() / num_epochs)}")
    return timer.cumsum()[:len(losses)], losses


def train_2d(trainer: Callable, steps: int = 20, f_grad: Optional[Callable] = None,
             verbose: bool = True) -> list[tuple[float, float]]:
    """Follow a 2-D optimiser from (-5, -2); returns the list of points ``[(x1, x2), ...]``.

    ``trainer(x1, x2, s1, s2)`` (or ``trainer(x1, x2, s1, s2, f_grad)``) returns the new
    ``(x1, x2, s1, s2)``; ``s1, s2`` are the optimiser's state (start at 0).
    """
    checks.positive_int("steps", steps)
    x1, x2, s1, s2 = -5.0, -2.0, 0.0, 0.0
    results = [(x1, x2)]
    for _ in range(steps):
        if f_grad is not None:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2, f_grad)
        else:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2)
        results.append((float(x1), float(x2)))
    if verbose:
        print(f"第 {steps} 步: x1 {float(x1):f}, x2 {float(x2):f}")
    return results


def show_trace_2d(f: Callable, results: Sequence[tuple[float, float]], figsize=(3.5, 2.5)):
    """Draw the path ``results`` over the contour lines of ``f(x1, x2)``; returns the axes."""
    checks.non_empty("results", results)
    checks.finite_numbers("figsize", figsize, 2, positive=True)
    set_figsize(figsize)
    _, ax = plt.subplots()
    xs = np.array(results, dtype=float)
    ax.plot(xs[:, 0], xs[:, 1], "-o", color="#ff7f0e", markersize=3)
    a = min(-5.5, xs[:, 0].min() - 0.5), max(1.0, xs[:, 0].max() + 0.5)
    c = min(-3.0, xs[:, 1].min() - 0.5), max(1.0, xs[:, 1].max() + 0.5)
    x1, x2 = np.meshgrid(np.linspace(*a, 120), np.linspace(*c, 120))
    ax.contour(x1, x2, f(x1, x2), colors="#1f77b4")
    ax.set_xlabel("$x_1$")  # notation, as in the text's equations
    ax.set_ylabel("$x_2$")
    return ax


def compare_with_torch(trainer_fn: Callable, states, hyperparams: dict, optimizer_cls: Callable,
                       optimizer_kwargs: dict, batches, feature_dim: int = 5, seed: int = 0) -> float:
    """Run a from-scratch ``trainer_fn`` and ``optimizer_cls`` side by side on the same ``batches``.

    Both start from the same parameters of a linear regression and see the same minibatches;
    returns the largest absolute difference between the two parameter sets after all steps.
    """
    checks.non_empty("batches", batches)
    checks.positive_int("feature_dim", feature_dim)
    checks.int_at_least("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    w0, b0 = torch.normal(0.0, 0.01, (feature_dim, 1), generator=g), torch.zeros(1)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    net = nn.Linear(feature_dim, 1)
    with torch.no_grad():
        net.weight.copy_(w0.T)
        net.bias.copy_(b0)
    optimizer = optimizer_cls(net.parameters(), **optimizer_kwargs)
    for X, y in batches:
        squared_loss(linreg(X, w, b), y).mean().backward()
        trainer_fn([w, b], states, hyperparams)
        optimizer.zero_grad()
        squared_loss(net(X), y).mean().backward()
        optimizer.step()
    with torch.no_grad():
        return max(float((w.T - net.weight).abs().max()), float((b - net.bias).abs().max()))
