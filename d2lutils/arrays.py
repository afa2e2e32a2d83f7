"""In-memory minibatch iteration and the linear-regression helpers of lecture 08."""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Sequence

import torch


class ArrayLoader:
    """Iterate minibatches over tensors that stay in memory (on ``device``).

    A random permutation per epoch replaces a DataLoader's sampler; ``transform``
    (applied to the first tensor of each batch, on the device) replaces per-sample
    transforms. Re-iterable; ``len()`` is the number of batches per epoch.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool = False, *,
                 transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 device: Optional[torch.device] = None, drop_last: bool = False,
                 max_batches: Optional[int] = None, seed: Optional[int] = None) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size 必须为正整数 (must be positive), got {batch_size}")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("所有张量的第一维长度必须相同 (all tensors need the same length)")
        self.tensors = [t.to(device) if device is not None else t for t in tensors]
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.transform, self.max_batches = transform, max_batches
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(seed)

    @property
    def num_examples(self) -> int:
        return len(self.tensors[0])

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        batches = n // b if self.drop_last else (n + b - 1) // b
        return min(batches, self.max_batches) if self.max_batches else batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = self.num_examples
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(device)
        else:
            order = None
        for i in range(len(self)):
            start = i * self.batch_size
            if order is None:
                batch = [t[start:start + self.batch_size] for t in self.tensors]
            else:
                idx = order[start:start + self.batch_size]
                # index_select copies whole rows: 10-16x faster than t[idx] for uint8 images on a CPU
                # (benchmarks/RESULTS.md); same result
                batch = [t.index_select(0, idx) for t in self.tensors]
            if self.transform is not None:
                batch[0] = self.transform(batch[0])
            yield tuple(batch)


def load_array(data_arrays: Sequence[torch.Tensor], batch_size: int, is_train: bool = True) -> ArrayLoader:
    """d2l's ``load_array``: minibatches over in-memory tensors (shuffled when ``is_train``)."""
    return ArrayLoader(data_arrays, batch_size, shuffle=is_train)


def synthetic_data(w: torch.Tensor, b: float, num_examples: int, noise: float = 0.01):
    """Generate ``y = Xw + b + noise`` with ``X ~ N(0, 1)``; returns ``(X, y)`` with y of shape (n, 1)."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = X @ w + b
    y += torch.normal(0, noise, y.shape)
    return X, y.reshape((-1, 1))


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model ``Xw + b``."""
    return X @ w + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example squared loss ``(y_hat - y)^2 / 2``."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr: float, batch_size: int) -> None:
    """Minibatch SGD on a summed loss: ``p -= lr * p.grad / batch_size``, then zero the grads."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()
