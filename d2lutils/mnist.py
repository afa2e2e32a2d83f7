"""Fashion-MNIST and MNIST read straight from the original IDX ``.gz`` files into uint8 tensors."""
from __future__ import annotations

import gzip
from functools import lru_cache
from typing import Optional, Union

import numpy as np
import torch
from torch.nn import functional as F

from .checks import image_size, positive_int
from .arrays import ArrayLoader
from .device import try_gpu
from .hub import fetch

# the book's Chinese class names (as in 3.5), in class-index order; the dataset's English names beside them
FASHION_MNIST_LABELS = ["T恤", "裤子", "套衫", "连衣裙", "外套", "凉鞋", "衬衫", "运动鞋", "包", "短靴"]
FASHION_MNIST_LABELS_EN = ["t-shirt", "trouser", "pullover", "dress", "coat",
                           "sandal", "shirt", "sneaker", "bag", "ankle boot"]
_FILES = {True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
_DATASETS = ("FashionMNIST", "MNIST")


def read_idx(path) -> torch.Tensor:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes into a uint8 tensor."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} 不是 uint8 的 IDX 文件（not a uint8 IDX file）")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: 数据长度 {len(data) - offset} 与头部 {dims} 不符（truncated or corrupt）")
    array = np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)
    return torch.from_numpy(array.copy())


@lru_cache(maxsize=4)
def load_mnist_tensors(dataset: str = "FashionMNIST", train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images uint8 [N, 28, 28], labels int64 [N])`` of Fashion-MNIST or MNIST."""
    if dataset not in _DATASETS:
        raise ValueError(f"dataset 只能是 {_DATASETS}（got {dataset!r}）")
    img_file, lbl_file = _FILES[train]
    images = read_idx(fetch(f"{dataset}/raw/{img_file}"))
    labels = read_idx(fetch(f"{dataset}/raw/{lbl_file}")).long()
    if len(images) != len(labels):
        raise ValueError(f"{dataset}: {len(images)} 张图像但有 {len(labels)} 个标签")
    return images, labels


def get_fashion_mnist_labels(labels) -> list[str]:
    """Text labels of Fashion-MNIST class indices."""
    return [FASHION_MNIST_LABELS[int(i)] for i in labels]


def _to_float(resize: Optional[Union[int, tuple[int, int]]]):
    """Batch transform: uint8 [B, H, W] -> float32 [B, 1, H', W'] in [0, 1], resized on the device."""
    size = (resize, resize) if isinstance(resize, int) else resize

    def transform(x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1).float().div_(255)
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x
    return transform


def load_data_fashion_mnist(batch_size: int, resize=None, *, device: Optional[torch.device] = None,
                            subset: Optional[int] = None, test_subset: Optional[int] = None,
                            max_batches: Optional[int] = None, test_batch_size: Optional[int] = None,
                            dataset: str = "FashionMNIST") -> tuple[ArrayLoader, ArrayLoader]:
    """Return ``(train_iter, test_iter)`` yielding ``(X float32 [B,1,H,W], y int64 [B])``.

    The whole dataset lives as uint8 on ``device`` (default: ``try_gpu()``); each batch is
    converted to float and resized (``F.interpolate``) there. ``subset``/``test_subset`` keep the
    first n examples, ``max_batches`` caps the training batches per epoch (quick profile).
    """
    batch_size = positive_int("batch_size", batch_size)
    test_batch_size = positive_int("test_batch_size", test_batch_size, allow_none=True)
    subset = positive_int("subset", subset, allow_none=True)
    test_subset = positive_int("test_subset", test_subset, allow_none=True)
    max_batches = positive_int("max_batches", max_batches, allow_none=True)
    resize = image_size(resize)
    device = try_gpu() if device is None else torch.device(device)
    loaders = []
    for train, n, bs, cap in ((True, subset, batch_size, max_batches),
                              (False, test_subset, test_batch_size or batch_size, None)):
        images, labels = load_mnist_tensors(dataset, train)
        if n is not None:
            images, labels = images[:n], labels[:n]
        loaders.append(ArrayLoader((images, labels), bs, shuffle=train, transform=_to_float(resize),
                                   device=device, max_batches=cap))
    return loaders[0], loaders[1]


def load_data_mnist(batch_size: int, resize=None, **kwargs) -> tuple[ArrayLoader, ArrayLoader]:
    """Like ``load_data_fashion_mnist`` for handwritten digits (MNIST)."""
    return load_data_fashion_mnist(batch_size, resize, dataset="MNIST", **kwargs)
