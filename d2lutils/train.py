"""Training loops of chapters 3 and 6 (``train_ch3``, ``train_ch6``) and their metrics.

Running sums stay on the device (no ``.item()`` per batch); each epoch reads them once.
The trainers return a ``History`` and print one fixed summary line, e.g.
``训练损失 0.469, 训练精度 0.823, 测试精度 0.779`` and ``12345.6 样本/秒 (cuda:0)``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from .device import try_gpu
from .mnist import get_fashion_mnist_labels
from .plotting import Animator, show_images
from . import facts
from .checks import bilingual, check_loss, finite_number, positive_int
from .progress import progress_enabled
from .utils import Timer


@dataclass
class History:
    """Per-epoch metrics of a training run."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    examples_per_sec: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"

    @property
    def final(self) -> dict[str, float]:
        return {"train_loss": self.train_loss[-1], "train_acc": self.train_acc[-1],
                "test_acc": self.test_acc[-1]}

    def summary(self) -> str:
        return (f"训练损失 {self.train_loss[-1]:.3f}, 训练精度 {self.train_acc[-1]:.3f}, "
                f"测试精度 {self.test_acc[-1]:.3f}")


def _batches(data_iter: Iterable, progress: bool, desc: str):
    if not progress:
        return data_iter
    from tqdm.auto import tqdm
    return tqdm(data_iter, desc=desc, leave=False)


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (d2l's ``accuracy``; divide by ``len(y)`` for a rate)."""
    return float(_correct(y_hat, y))


def _device_of(net) -> Optional[torch.device]:
    if isinstance(net, nn.Module):
        p = next(net.parameters(), None)
        return p.device if p is not None else None
    return None


def evaluate_accuracy(net, data_iter, device: Optional[torch.device] = None) -> float:
    """Accuracy of ``net`` on a dataset (works for modules and plain functions)."""
    if isinstance(net, nn.Module):
        was_training = net.training
        net.eval()
    device = device or _device_of(net)
    correct, total = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            if device is not None:
                X, y = X.to(device), y.to(device)
            correct = correct + _correct(net(X), y)
            total += y.numel()
    if isinstance(net, nn.Module):
        net.train(was_training)
    return float(correct) / max(total, 1)


evaluate_accuracy_gpu = evaluate_accuracy


def evaluate_loss(net, data_iter, loss) -> float:
    """Average loss of ``net`` on a dataset (``loss`` may reduce or not)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            out = net(X)
            l = loss(out, y.reshape(out.shape) if out.shape != y.shape and out.numel() == y.numel() else y)
            total += float(l.sum()) if l.dim() else float(l) * len(y)
            count += len(y)
    return total / max(count, 1)


def train_epoch_ch3(net, train_iter, loss, updater, progress: bool = False) -> tuple[float, float]:
    """One epoch; ``updater`` is a torch optimizer or ``f(batch_size)``. Returns (mean loss, accuracy)."""
    if isinstance(net, nn.Module):
        net.train()
    loss_sum = correct = 0
    n = 0
    for X, y in _batches(train_iter, progress, "小批量"):
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            (l.sum() if l.dim() else l * len(y)).backward()
            updater(X.shape[0])
        loss_sum = loss_sum + (l.detach().sum() if l.dim() else l.detach() * len(y))
        correct = correct + _correct(y_hat.detach(), y)
        n += len(y)
    return float(loss_sum) / n, float(correct) / n


def train_ch3(net, train_iter, test_iter, loss, num_epochs: int, updater, *,
              animate: bool = True, progress: Optional[bool] = None) -> History:
    """Train a model of chapter 3 (softmax regression, MLP); returns the History and prints a summary.

    Stops with ``NonFiniteLossError`` (saying which epoch and what to try) when the loss becomes nan/inf.
    """
    num_epochs = positive_int("num_epochs", num_epochs)
    history = History()
    animator = Animator(xlabel="轮", xlim=[1, num_epochs], ylim=[0.3, 0.9],
                        legend=["训练损失", "训练精度", "测试精度"]) if animate else None
    timer = Timer()
    n_seen = 0
    for epoch in range(num_epochs):
        timer.start()
        train_loss, train_acc = train_epoch_ch3(net, train_iter, loss, updater,
                                                progress_enabled(progress))
        timer.stop()
        n_seen += getattr(train_iter, "num_examples", 0) if not getattr(train_iter, "max_batches", None) \
            else min(train_iter.num_examples, train_iter.max_batches * train_iter.batch_size)
        check_loss(train_loss, epoch + 1)
        test_acc = evaluate_accuracy(net, test_iter)
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.test_acc.append(test_acc)
        if animator:
            animator.add(epoch + 1, (train_loss, train_acc, test_acc))
    history.seconds = timer.sum()
    history.examples_per_sec = n_seen / history.seconds if history.seconds else 0.0
    history.device = str(_device_of(net) or "cpu")
    print(history.summary())
    facts.record_metrics(**history.final)
    return history


def predict_ch3(net, test_iter, n: int = 6):
    """Show the first ``n`` test images with true and predicted labels; returns the predictions."""
    X, y = next(iter(test_iter))
    with torch.no_grad():
        preds = net(X).argmax(dim=1)
    trues = get_fashion_mnist_labels(y)
    predicted = get_fashion_mnist_labels(preds)
    titles = [f"{t}\n{p}" for t, p in zip(trues, predicted)]
    show_images(X[:n].reshape((n, X.shape[-2], X.shape[-1])).cpu(), 1, n, titles=titles[:n])
    return preds[:n]


def use_channels_last(net: nn.Module, device: torch.device, channels_last: Optional[bool] = None) -> bool:
    """Store ``net`` in NHWC order when asked, or by default (None) on the CPU for a model with 2-D
    convolutions (oneDNN's NHWC kernels are faster there: ``benchmarks/RESULTS.md``). Returns whether
    the inputs should be converted too. Parameters keep their identity, so an optimizer built before
    still updates them."""
    if channels_last is None:
        channels_last = device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in net.modules())
    if channels_last:
        net.to(memory_format=torch.channels_last)
    return channels_last


def report(history: History, seconds: float, n_seen: int, *, test: bool = True) -> History:
    """Finish a training run: store time and speed in ``history``, print the summary line and
    ``… 样本/秒 (device)``, record the headline metrics for the book's tools; returns ``history``."""
    history.seconds = seconds
    history.examples_per_sec = n_seen / seconds if seconds else 0.0
    if test:
        print(history.summary())
    else:
        print(f"训练损失 {history.train_loss[-1]:.3f}, 训练精度 {history.train_acc[-1]:.3f}")
    print(f"{history.examples_per_sec:.1f} 样本/秒 ({history.device})")
    if test:
        facts.record_metrics(**history.final, examples_per_sec=history.examples_per_sec)
    return history


def _init_xavier(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(m.weight)


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: Optional[float],
              device: Optional[torch.device] = None, *, init: Optional[Callable] = _init_xavier,
              optimizer: Optional[torch.optim.Optimizer] = None, amp: bool = False,
              channels_last: Optional[bool] = None, animate: bool = True,
              progress: Optional[bool] = None) -> History:
    """Train a CNN on ``device`` (default ``try_gpu()``) with SGD and cross-entropy.

    ``amp=True`` uses bf16 autocast on CUDA (ignored on the CPU); ``channels_last=True`` stores the
    model and the inputs in NHWC order. The default (None) does so on the CPU when the model has 2-D
    convolutions: oneDNN's NHWC kernels train LeNet 1.5–1.8× and a small AlexNet 1.1–1.35× faster
    there, ResNet-18 about as fast (``benchmarks/RESULTS.md``); on CUDA it stays off unless asked for.
    Returns the History, prints metrics and examples/sec.
    Stops with ``NonFiniteLossError`` (saying which epoch and what to try) when the loss becomes nan/inf.
    """
    num_epochs = positive_int("num_epochs", num_epochs)
    if optimizer is None:
        lr = finite_number("lr", lr)
    elif lr is not None and any(g["lr"] != lr for g in optimizer.param_groups):
        raise ValueError(bilingual(
            f"传入了 optimizer，它的学习率 {optimizer.param_groups[0]['lr']} 与 lr={lr} 不一致；"
            "学习率由 optimizer 决定，请传 lr=None 或让两者一致",
            f"an optimizer was given whose learning rate ({optimizer.param_groups[0]['lr']}) differs from "
            f"lr={lr}; the optimizer's rate is the one used: pass lr=None or make them agree"))
    device = torch.device(device) if device is not None else try_gpu()
    if init is not None:
        net.apply(init)
    net.to(device)
    channels_last = use_channels_last(net, device, channels_last)
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    use_amp = amp and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
    history = History(device=str(device))
    animator = Animator(xlabel="轮", xlim=[1, num_epochs],
                        legend=["训练损失", "训练精度", "测试精度"]) if animate else None
    timer = Timer()
    n_seen = 0
    show = progress_enabled(progress)
    for epoch in range(num_epochs):
        net.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        n = 0
        timer.start()
        for X, y in _batches(train_iter, show, f"第 {epoch + 1} 轮"):
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                y_hat = net(X)
                l = loss_fn(y_hat, y)
            l.backward()
            optimizer.step()
            loss_sum += l.detach().float() * len(y)
            correct += _correct(y_hat.detach(), y)
            n += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timer.stop()
        n_seen += n
        with autocast():
            test_acc = evaluate_accuracy(net, test_iter, device)
        check_loss(float(loss_sum) / n, epoch + 1)
        history.train_loss.append(float(loss_sum) / n)
        history.train_acc.append(float(correct) / n)
        history.test_acc.append(test_acc)
        if animator:
            animator.add(epoch + 1, (history.train_loss[-1], history.train_acc[-1], test_acc))
    return report(history, timer.sum(), n_seen)
