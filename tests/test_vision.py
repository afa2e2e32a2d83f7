"""Vision helpers: small ResNet-18, train_ch13, the cached pretrained model, Kaggle folder layout."""
from __future__ import annotations

import re

import pooch
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2

import d2lutils as d2l


def test_resnet18_shapes_names_and_width(one_thread):
    net = d2l.resnet18(num_classes=7, in_channels=3, width=4)
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 7)
        assert net[:-1](torch.rand(2, 3, 32, 32)).shape == (2, 32)  # body: 8·width features
        assert net(torch.rand(1, 3, 28, 28)).shape == (1, 7)  # global pooling: any size
    assert isinstance(net.fc, nn.Linear) and net.fc.in_features == 32
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].kernel_size == (3, 3) and convs[0].stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    assert sum(m.kernel_size == (3, 3) for m in convs) + 1 == 18  # 17 conv + fc
    # the standard width has the familiar 11.2 M parameters (3 input channels, 10 classes)
    assert 11_100_000 < sum(p.numel() for p in d2l.resnet18(10, 3).parameters()) < 11_300_000


def _blobs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    X = torch.randn(n, 1, 4, 4, generator=g) * 0.3 + (y.float() * 2 - 1).reshape(-1, 1, 1, 1)
    return X, y


def test_train_ch13_learns_steps_scheduler_and_prints(capsys, one_thread):
    torch.manual_seed(0)
    X, y = _blobs(300)
    train_iter = d2l.load_array((X[:200], y[:200]), 20)
    test_iter = d2l.load_array((X[200:], y[200:]), 50, is_train=False)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    trainer = torch.optim.SGD(net.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(trainer, 2, 0.5)
    hist = d2l.train_ch13(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction="none"),
                          trainer, 4, devices=[torch.device("cpu")], scheduler=scheduler,
                          animate=False)
    assert len(hist.train_loss) == len(hist.test_acc) == 4
    assert hist.test_acc[-1] > 0.95 and hist.train_loss[-1] < hist.train_loss[0]
    assert trainer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.25)  # stepped once per epoch
    out = capsys.readouterr().out
    assert re.search(r"^训练损失 \d\.\d{3}, 训练精度 \d\.\d{3}, 测试精度 \d\.\d{3}$", out, re.M)
    assert re.search(r"^\d+\.\d 样本/秒 \(cpu\)$", out, re.M)


def test_train_ch13_without_test_set(capsys):
    X, y = _blobs(40)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    hist = d2l.train_ch13(net, d2l.load_array((X, y), 10), None, nn.CrossEntropyLoss(),
                          torch.optim.SGD(net.parameters(), lr=0.1), 1, animate=False)
    assert hist.test_acc == [] and len(hist.train_acc) == 1
    assert re.search(r"^训练损失 \d\.\d{3}, 训练精度 \d\.\d{3}$", capsys.readouterr().out, re.M)



def test_pretrained_fashion_resnet_caches_and_repeats(tmp_path, monkeypatch, capsys, one_thread):
    kwargs = dict(width=2, epochs=1, num_train=64, img_size=12, batch_size=32,
                  device=torch.device("cpu"))
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "a"))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    net = d2l.pretrained_fashion_resnet(**kwargs)
    assert torch.equal(torch.rand(1), before)  # the caller's random stream is untouched
    files = list((tmp_path / "a" / "models").iterdir())
    assert [f.name for f in files] == ["fashion_resnet18_w2_e1_n64_px12_b32_lr0.05_seed0.pt"]
    assert not net.training
    again = d2l.pretrained_fashion_resnet(**kwargs)
    out = capsys.readouterr().out
    assert "新训练" in out and "从缓存载入" in out
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "b"))
    fresh = d2l.pretrained_fashion_resnet(**kwargs, verbose=False)
    for a, b, c in zip(net.state_dict().values(), again.state_dict().values(),
                       fresh.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)



def test_pretrained_fashion_resnet_on_a_class_subset(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    net = d2l.pretrained_fashion_resnet(width=2, epochs=1, num_train=64, img_size=12, batch_size=32,
                                        device=torch.device("cpu"), classes=[7, 2], verbose=False)
    assert net[-1].out_features == 2                       # one output per kept class
    files = [f.name for f in (tmp_path / "models").iterdir()]
    assert files == ["fashion_resnet18_w2_e1_n64_px12_b32_lr0.05_seed0_c72.pt"]
    for bad in ([3, 3], [10], []):
        with pytest.raises(ValueError, match="classes"):
            d2l.pretrained_fashion_resnet(width=2, epochs=1, num_train=64, classes=bad)

def _write_kaggle(root, n_per_class=(4, 6), n_test=3):
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    lines, k = ["id,label"], 0
    for c, n in enumerate(n_per_class):
        for _ in range(n):
            k += 1
            Image.new("RGB", (8, 8), (200 * c, 10 * k, 0)).save(root / "train" / f"{k}.png")
            lines.append(f"{k},cls{c}")
    for i in range(n_test):
        Image.new("L", (10, 6), 50 * i).save(root / "test" / f"{i + 1}.png")  # grey, other size
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def test_kaggle_reorg_and_read_back(tmp_path):
    _write_kaggle(tmp_path)
    labels = d2l.read_csv_labels(tmp_path / "labels.csv")
    assert len(labels) == 10 and labels["1"] == "cls0" and labels["10"] == "cls1"
    labels.update({str(k): "cls0" for k in range(11, 40)})  # listed, but no such images
    n_valid = d2l.reorg_train_valid(tmp_path, labels, 0.5)
    d2l.reorg_test(tmp_path)
    assert n_valid == 2  # floor(4 · 0.5) from the smallest class
    out = tmp_path / "train_valid_test"
    count = lambda p: len(list(p.iterdir()))
    assert [count(out / "valid" / c) for c in ("cls0", "cls1")] == [2, 2]
    assert [count(out / "train" / c) for c in ("cls0", "cls1")] == [2, 4]
    assert [count(out / "train_valid" / c) for c in ("cls0", "cls1")] == [4, 6]
    images, y, classes, stems = d2l.read_image_folder(out / "train_valid")
    assert images.shape == (10, 3, 8, 8) and images.dtype == torch.uint8
    assert classes == ["cls0", "cls1"] and y.tolist() == [0] * 4 + [1] * 6
    assert all(labels[s] == classes[int(t)] for s, t in zip(stems, y))
    test_images, _, test_classes, test_stems = d2l.read_image_folder(out / "test", size=8)
    assert test_images.shape == (3, 3, 8, 8) and test_classes == ["unknown"]
    assert sorted(test_stems) == ["1", "2", "3"]


def test_per_sample_draws_per_image_and_image_loader():
    torch.manual_seed(0)
    batch = torch.arange(2 * 4, dtype=torch.float32).reshape(1, 1, 2, 4).repeat(64, 1, 1, 1)
    flip = v2.RandomHorizontalFlip(0.5)
    flipped = d2l.per_sample(flip)(batch)
    n_flipped = int((flipped[:, 0, 0, 0] == 3).sum())
    assert 10 < n_flipped < 54  # some images flipped, some not (one draw per batch gives 0 or 64)
    images = torch.randint(0, 256, (10, 3, 6, 6), dtype=torch.uint8)
    loader = d2l.image_loader(images, torch.arange(10), 4, shuffle=False, device="cpu",
                              transform=v2.Normalize([0.5] * 3, [0.5] * 3))
    X, y = next(iter(loader))
    assert X.dtype == torch.float32 and X.shape == (4, 3, 6, 6) and y.tolist() == [0, 1, 2, 3]
    assert torch.allclose(X, images[:4].float() / 255 * 2 - 1, atol=1e-6)
    assert len(loader) == 3


def test_download_extract_refuses_unchecked_files(tmp_path, monkeypatch):
    import zipfile
    from d2lutils import vision
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("D2L_DATA_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    archive = tmp_path / "mirror" / "kaggle_dog_tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("kaggle_dog_tiny/labels.csv", "id,breed\n")
    with pytest.raises(d2l.DataUnavailableError):  # wrong sha1: never used
        d2l.download_extract("dog_tiny", download=False)
    monkeypatch.setitem(vision.DATA_HUB, "dog_tiny", ("http://127.0.0.1:9/kaggle_dog_tiny.zip",
                                                      pooch.file_hash(str(archive), alg="sha1")))
    folder = d2l.download_extract("dog_tiny", download=False)
    assert (folder / "kaggle_dog_tiny" / "labels.csv").read_text() == "id,breed\n"
