"""In-memory loaders, linear-regression helpers, IDX reading and Fashion-MNIST."""
from __future__ import annotations

import gzip
import struct

import pytest
import torch

import d2lutils as d2l


def test_array_loader_batches_and_shuffle():
    X = torch.arange(10).float().reshape(10, 1)
    y = torch.arange(10)
    loader = d2l.ArrayLoader((X, y), 4, shuffle=True, seed=0)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for xb, yb in batches:  # rows stay paired
        assert torch.equal(xb[:, 0].long(), yb)
    assert len(d2l.ArrayLoader((X, y), 4, drop_last=True)) == 2
    assert len(d2l.ArrayLoader((X, y), 2, max_batches=3)) == 3


def test_array_loader_transform_and_errors():
    loader = d2l.ArrayLoader((torch.ones(5, 2), torch.zeros(5)), 5, transform=lambda x: x * 3)
    xb, _ = next(iter(loader))
    assert torch.all(xb == 3)
    with pytest.raises(ValueError):
        d2l.ArrayLoader((torch.ones(5), torch.ones(4)), 2)
    with pytest.raises(ValueError):
        d2l.ArrayLoader((torch.ones(5),), 0)


def test_load_array_is_shuffled_only_for_training():
    X = torch.arange(8).float()
    assert not d2l.load_array((X,), 8, is_train=False).shuffle
    assert d2l.load_array((X,), 8).shuffle


def test_synthetic_data_and_linreg_helpers():
    torch.manual_seed(0)
    w = torch.tensor([2.0, -3.4])
    X, y = d2l.synthetic_data(w, 4.2, 1000)
    assert X.shape == (1000, 2) and y.shape == (1000, 1)
    residual = y - d2l.linreg(X, w.reshape(2, 1), torch.tensor(4.2))
    assert residual.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.allclose(d2l.squared_loss(torch.tensor([3.0]), torch.tensor([1.0])), torch.tensor([2.0]))


def test_sgd_step_and_zero_grad():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    (p.sum() * 4).backward()  # grad = 4
    d2l.sgd([p], lr=0.5, batch_size=2)
    assert torch.allclose(p.detach(), torch.tensor([0.0, 1.0]))
    assert torch.all(p.grad == 0)


def _idx_bytes(array: torch.Tensor) -> bytes:
    head = bytes([0, 0, 0x08, array.dim()]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + array.numpy().tobytes()


def test_read_idx_roundtrip_and_truncation(tmp_path):
    images = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(images)))
    assert torch.equal(d2l.read_idx(path), images)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_idx_bytes(images)[:-7]))
    with pytest.raises(ValueError, match="truncated"):
        d2l.read_idx(tmp_path / "cut.gz")
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        d2l.read_idx(tmp_path / "junk")


@pytest.mark.parametrize("dataset,first_label", [("FashionMNIST", 9), ("MNIST", 5)])
def test_real_mnist_tensors(dataset, first_label):
    X, y = d2l.load_mnist_tensors(dataset, train=True)
    assert X.shape == (60000, 28, 28) and X.dtype == torch.uint8
    assert y.shape == (60000,) and y.dtype == torch.int64 and int(y[0]) == first_label
    Xt, yt = d2l.load_mnist_tensors(dataset, train=False)
    # Fashion-MNIST's test set is balanced; MNIST's published test-set class counts:
    expected = [1000] * 10 if dataset == "FashionMNIST" else [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert Xt.shape == (10000, 28, 28) and torch.bincount(yt).tolist() == expected


def test_load_data_fashion_mnist_batches():
    train_iter, test_iter = d2l.load_data_fashion_mnist(32, resize=64, device="cpu",
                                                        subset=100, test_subset=50)
    X, y = next(iter(train_iter))
    assert X.shape == (32, 1, 64, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert train_iter.num_examples == 100 and test_iter.num_examples == 50 and len(train_iter) == 4
    X, _ = next(iter(d2l.load_data_fashion_mnist(8, max_batches=2)[0]))
    assert X.shape == (8, 1, 28, 28)
    with pytest.raises(ValueError):
        d2l.load_mnist_tensors("CIFAR")


def test_fashion_labels():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9])) == ["T恤", "短靴"]


def test_corr2d_matches_conv2d():
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert torch.equal(d2l.corr2d(X, K), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))
    X, K = torch.randn(6, 7), torch.randn(3, 2)
    expected = torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0]
    assert torch.allclose(d2l.corr2d(X, K), expected, atol=1e-5)
