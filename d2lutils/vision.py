"""Computer-vision helpers of lectures 36–40: the small-input ResNet-18, ``train_ch13``,
a cached Fashion-MNIST-pretrained ResNet, Kaggle folder layout and batch augmentation.

Images are read once into uint8 tensors and batched by ``ArrayLoader``; augmentation runs on the
batch, on the device, with ``torchvision.transforms.v2`` (``per_sample`` draws new random
parameters for every image of the batch).
"""
from __future__ import annotations

import collections
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import pooch
import torch
from torch import nn

from . import cache, checks
from .arrays import ArrayLoader
from .device import try_all_gpus, try_gpu
from .hub import DataUnavailableError, _check_member, cache_dir, local_mirrors, retrieve
from .mnist import load_data_fashion_mnist
from .plotting import Animator
from .progress import progress_enabled
from .train import History, _batches, _correct, evaluate_accuracy, report, use_channels_last
from .utils import Timer

PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

def _stage(in_channels: int, channels: int, num_blocks: int, stride: int) -> nn.Sequential:
    # imported here: torchvision costs ~1.3 s at start-up, and most sections never build a ResNet
    from torchvision.models.resnet import BasicBlock
    downsample = None
    if stride != 1 or in_channels != channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(channels))
    blocks = [BasicBlock(in_channels, channels, stride, downsample)]
    blocks += [BasicBlock(channels, channels) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def resnet18(num_classes: int = 10, in_channels: int = 1, width: int = 64) -> nn.Sequential:
    """d2l's ResNet-18 for small inputs (e.g. 32×32): a 3×3 stem without max-pooling, four stages
    of two torchvision ``BasicBlock`` s with ``width``, 2·width, 4·width, 8·width channels, global
    average pooling and a linear layer. ``width=64`` is the standard size.

    The children are named ``stem, layer1…layer4, avgpool, flatten, fc``: ``net.fc`` is the output
    layer and ``net[:-1]`` the body (feature extractor) used for fine-tuning.
    """
    checks.positive_int("num_classes", num_classes)
    checks.positive_int("in_channels", in_channels)
    checks.positive_int("width", width)
    c = [width, 2 * width, 4 * width, 8 * width]
    layers = collections.OrderedDict([
        ("stem", nn.Sequential(nn.Conv2d(in_channels, c[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))),
        ("layer1", _stage(c[0], c[0], 2, 1)),
        ("layer2", _stage(c[0], c[1], 2, 2)),
        ("layer3", _stage(c[1], c[2], 2, 2)),
        ("layer4", _stage(c[2], c[3], 2, 2)),
        ("avgpool", nn.AdaptiveAvgPool2d((1, 1))),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(c[3], num_classes)),
    ])
    return nn.Sequential(layers)


# ---------------------------------------------------------------------------------------------
# Training (lecture 39's train_ch13)
# ---------------------------------------------------------------------------------------------

def train_batch_ch13(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss, trainer,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One minibatch step; returns the summed loss and the number correct, both still on the device.

    As in d2l, the gradient is that of ``loss(...).sum()``: with ``reduction='none'`` the learning
    rate acts per example, with ``reduction='mean'`` per batch.
    """
    checks.device("device", device)
    X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
    net.train()
    trainer.zero_grad(set_to_none=True)
    pred = net(X)
    l = loss(pred, y)
    l.sum().backward()
    trainer.step()
    loss_sum = l.detach().sum() if l.dim() else l.detach() * len(y)
    return loss_sum, _correct(pred.detach(), y)


def train_ch13(net: nn.Module, train_iter, test_iter, loss, trainer, num_epochs: int,
               devices: Optional[Sequence[torch.device]] = None, scheduler=None, *,
               animate: bool = True, progress: Optional[bool] = None,
               channels_last: Optional[bool] = None) -> History:
    """Train ``net`` with a given loss and optimizer (and optional lr ``scheduler``, stepped per epoch).

    ``devices`` defaults to ``try_all_gpus()``; with several GPUs the model is wrapped in
    ``nn.DataParallel``. ``test_iter`` may be ``None`` (final training on all labelled data).
    ``channels_last`` as in ``train_ch6`` (default: NHWC on the CPU for convolutional models).
    Prints ``训练损失 …, 训练精度 …, 测试精度 …`` and ``… 样本/秒 (device)``; returns the History.
    """
    checks.positive_int("num_epochs", num_epochs)
    checks.devices("devices", devices, allow_none=True)
    devices = [torch.device(d) for d in devices] if devices else try_all_gpus()
    device = devices[0]
    net.to(device)
    use_channels_last(net, device, channels_last)
    model = nn.DataParallel(net, device_ids=devices) if len(devices) > 1 else net
    history = History(device=", ".join(str(d) for d in devices))
    legend = ["训练损失", "训练精度"] + (["测试精度"] if test_iter is not None else [])
    animator = Animator(xlabel="轮", xlim=[1, num_epochs], legend=legend) if animate else None
    timer, n_seen, show = Timer(), 0, progress_enabled(progress)
    for epoch in range(num_epochs):
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        n = 0
        timer.start()
        for X, y in _batches(train_iter, show, f"epoch {epoch + 1}"):
            l, c = train_batch_ch13(model, X, y, loss, trainer, device)
            loss_sum += l.float()
            correct += c
            n += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timer.stop()
        n_seen += n
        if scheduler is not None:
            scheduler.step()
        history.train_loss.append(float(loss_sum) / n)
        history.train_acc.append(float(correct) / n)
        values = [history.train_loss[-1], history.train_acc[-1]]
        if test_iter is not None:
            history.test_acc.append(evaluate_accuracy(model, test_iter, device))
            values.append(history.test_acc[-1])
        if animator:
            animator.add(epoch + 1, values)
    return report(history, timer.sum(), n_seen, test=test_iter is not None)


# ---------------------------------------------------------------------------------------------
# A pretrained model that exists offline: the book's ResNet on Fashion-MNIST (lectures 37, 40, 48)
# ---------------------------------------------------------------------------------------------

def pretrained_fashion_resnet(width: int = 8, epochs: int = 2, num_train: int = 6000,
                              img_size: int = 28, batch_size: int = 128, lr: float = 0.05,
                              seed: int = 0, device: Optional[torch.device] = None,
                              verbose: bool = True,
                              classes: Optional[Sequence[int]] = None) -> nn.Sequential:
    """``resnet18(10, 1, width)`` trained on the first ``num_train`` Fashion-MNIST images.

    ``classes`` (e.g. ``[0, 1, 2, 3, 4]``) pretrains on those classes only, with outputs in that
    order (``resnet18(len(classes), …)``), so the other classes can serve as a new target task.

    The weights are cached in ``cache_dir()/models``, under a file name that records every setting
    (written to a temporary file and renamed, so a partial file never appears). Training is
    deterministic from ``seed`` (SGD with momentum 0.9, one-cycle learning-rate schedule). Returns the model
    in eval mode on ``device`` (default ``try_gpu()``) and prints one line with its test accuracy.
    """
    for _name, _value in (("width", width), ("epochs", epochs), ("num_train", num_train),
                          ("img_size", img_size), ("batch_size", batch_size)):
        checks.positive_int(_name, _value)
    checks.positive_number("lr", lr)
    checks.int_at_least("seed", seed, 0)
    checks.device("device", device, allow_none=True)
    device = try_gpu() if device is None else torch.device(device)
    if classes is not None:
        classes = [checks.int_at_least(f"classes[{i}]", c, 0) for i, c in enumerate(checks.non_empty("classes", classes))]
        if not classes or len(set(classes)) != len(classes) or not all(0 <= c < 10 for c in classes):
            raise checks.ArgumentError(f"classes 应是 0–9 中互不相同的类别编号（got {classes!r}）；"
                                       f"classes must be distinct Fashion-MNIST labels 0-9")
    tag = "" if classes is None else "_c" + "".join(str(c) for c in classes)
    name = (f"fashion_resnet18_w{width}_e{epochs}_n{num_train}_px{img_size}"
            f"_b{batch_size}_lr{lr:g}_seed{seed}{tag}.pt")
    path = cache_dir() / "models" / name
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = resnet18(10 if classes is None else len(classes), 1, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        with cache.lock(path):  # a second process waits for the first one's file, then loads it
            test_acc, source = _load_or_train(net, path, width, epochs, num_train, img_size,
                                              batch_size, lr, seed, device, classes)
    if verbose:
        which = "" if classes is None else f"类别 {classes} 的"
        print(f"预训练模型 ResNet-18（宽度 {width}，Fashion-MNIST {which}前 {num_train} 张，{img_size} 像素，"
              f"{epochs} 轮）：测试精度 {test_acc:.3f}，{source}")
    return net.to(device).eval()


def _class_subset_loaders(classes, batch_size, img_size, num_train, device):
    """Fashion-MNIST loaders holding only ``classes``, relabelled 0..len(classes)-1 in that order."""
    from .mnist import load_mnist_tensors
    relabel = torch.full((10,), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    loaders = []
    for train, n in ((True, num_train), (False, 2000)):
        images, labels = load_mnist_tensors("FashionMNIST", train)
        keep = torch.isin(labels, torch.tensor(classes))
        images, labels = images[keep][:n].unsqueeze(1), relabel[labels[keep][:n]]
        resize = (lambda x: nn.functional.interpolate(x, size=(img_size, img_size), mode="bilinear",
                                                      align_corners=False)) if img_size != 28 else None
        loaders.append(image_loader(images, labels, batch_size, shuffle=train, transform=resize,
                                    device=device))
    return loaders[0], loaders[1]


def _read_cached_model(net: nn.Module, path: Path) -> Optional[dict]:
    """The saved dict when ``path`` holds weights that fit ``net``; a damaged or foreign file is removed."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if {k: v.shape for k, v in saved["state_dict"].items()} != {k: v.shape for k, v in net.state_dict().items()}:
            raise ValueError("weights that do not fit the model")
        float(saved["test_acc"])
        return saved
    except Exception as err:  # noqa: BLE001 - truncated, foreign or unreadable: train again
        cache.discard(path, f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}")
        return None


def _load_or_train(net, path, width, epochs, num_train, img_size, batch_size, lr, seed, device,
                   classes=None):
    saved = _read_cached_model(net, path)
    if saved is not None:
        net.load_state_dict(saved["state_dict"])
        test_acc, source = float(saved["test_acc"]), "从缓存载入"
    else:
        if classes is None:
            train_iter, test_iter = load_data_fashion_mnist(
                batch_size, resize=img_size, device=device, subset=num_train, test_subset=2000)
        else:
            train_iter, test_iter = _class_subset_loaders(classes, batch_size, img_size, num_train, device)
        train_iter.generator = torch.Generator().manual_seed(seed)
        net.to(device)
        trainer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        steps = epochs * len(train_iter)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(trainer, max_lr=lr, total_steps=steps)
        for _ in range(epochs):
            for X, y in train_iter:
                trainer.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(net(X), y).backward()
                trainer.step()
                scheduler.step()
        test_acc = evaluate_accuracy(net, test_iter, device)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
        os.close(fd)
        try:
            torch.save({"state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                        "test_acc": test_acc}, tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes the file private
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        source = "新训练并存入缓存"
    return test_acc, source


# ---------------------------------------------------------------------------------------------
# Archives that d2l publishes with a sha1 only (lectures 37, 39, 40)
# ---------------------------------------------------------------------------------------------

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
# name -> (URL, sha1 published in d2l's DATA_HUB). Only checksums we could confirm are listed.
DATA_HUB: dict[str, tuple[str, str]] = {
    "hotdog": (DATA_URL + "hotdog.zip", "fba480ffa8aa7e0febbb511d181409f899b9baa5"),
    "cifar10_tiny": (DATA_URL + "kaggle_cifar10_tiny.zip", "2068874e4b9a9f0fb07ebe0ad2b29754449ccacd"),
    "dog_tiny": (DATA_URL + "kaggle_dog_tiny.zip", "0cb91d09b814ecdc07b50f31f8dcad3e81d6a86d"),
}



def download_extract(name: str, *, download: bool = True, timeout: float = 30.0) -> Path:
    """d2l's ``download_extract`` for the archives in ``DATA_HUB``: returns the unpacked folder.

    The zip is taken from the cache or a local mirror when its sha1 matches, otherwise downloaded
    (when ``download``) and accepted only with the published sha1. Raises ``DataUnavailableError``
    when no checked copy can be had; an unchecked file is never used.
    """
    checks.one_of("name", name, tuple(DATA_HUB))
    checks.positive_number("timeout", timeout)
    url, sha1 = DATA_HUB[name]
    fname = url.rsplit("/", 1)[-1]
    archive = next((folder / fname for folder in [cache_dir()] + local_mirrors()
                    if (folder / fname).is_file() and pooch.file_hash(str(folder / fname), alg="sha1") == sha1), None)
    if archive is None and download:
        try:
            archive = retrieve(url, f"sha1:{sha1}", fname, timeout=timeout)
        except Exception as err:  # noqa: BLE001 - reported below
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            raise DataUnavailableError(f"无法获得 {fname}（sha1 {sha1[:12]}…）：{reason}") from None
    if archive is None:
        raise DataUnavailableError(f"本地没有 {fname}（sha1 {sha1[:12]}…），且未允许下载")
    dest = cache_dir() / "extracted" / fname[:-len(".zip")]

    def unpack(tmp: Path) -> None:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info.filename)
            zf.extractall(tmp)
        (tmp / ".d2l-extracted").write_text(sha1)
    # under a lock, with a manifest: a damaged or half-written folder is noticed and unpacked again
    return cache.build_folder(dest, unpack, {"sha1": sha1})


# ---------------------------------------------------------------------------------------------
# Kaggle folder layout (lecture 39) and reading image folders back
# ---------------------------------------------------------------------------------------------

def read_csv_labels(fname: PathLike) -> dict[str, str]:
    """Read a Kaggle label file ``id,label`` (with a header line) into ``{id: label}``."""
    with open(fname) as f:
        lines = f.read().splitlines()[1:]
    tokens = [line.rstrip().split(",") for line in lines if line.strip()]
    return {name: label for name, label in tokens}


def copyfile(filename: PathLike, target_dir: PathLike) -> None:
    """Copy ``filename`` into ``target_dir`` (created when missing)."""
    os.makedirs(target_dir, exist_ok=True)
    shutil.copy(filename, target_dir)


def reorg_train_valid(data_dir: PathLike, labels: dict[str, str], valid_ratio: float) -> int:
    """Split ``data_dir/train`` into ``train_valid_test/{train,valid,train_valid}/<label>/``.

    Every class gets the same number of validation images, ``max(1, floor(n_min * valid_ratio))``
    where ``n_min`` is the number of images of the smallest class in ``train/`` (``labels`` may
    list more files); files are taken in sorted order, so the split repeats. Returns the number of
    validation images per class.
    """
    checks.non_empty("labels", labels)
    if checks.number_in_range("valid_ratio", valid_ratio, 0.0, 1.0, high_open=True) == 0:
        checks.positive_number("valid_ratio", valid_ratio)
    data_dir = Path(data_dir)
    files = sorted(os.listdir(data_dir / "train"))
    # count the images that are there: a label file may list more (e.g. a sample of the data)
    n_min = min(collections.Counter(labels[f.split(".")[0]] for f in files).values())
    n_valid_per_label = max(1, math.floor(n_min * valid_ratio))
    label_count: dict[str, int] = {}
    out = data_dir / "train_valid_test"
    for train_file in files:
        label = labels[train_file.split(".")[0]]
        fname = data_dir / "train" / train_file
        copyfile(fname, out / "train_valid" / label)
        if label_count.get(label, 0) < n_valid_per_label:
            copyfile(fname, out / "valid" / label)
            label_count[label] = label_count.get(label, 0) + 1
        else:
            copyfile(fname, out / "train" / label)
    return n_valid_per_label


def reorg_test(data_dir: PathLike) -> None:
    """Copy ``data_dir/test/*`` into ``train_valid_test/test/unknown/`` (one folder = one 'class')."""
    data_dir = Path(data_dir)
    for test_file in sorted(os.listdir(data_dir / "test")):
        copyfile(data_dir / "test" / test_file, data_dir / "train_valid_test" / "test" / "unknown")


def read_image_folder(root: PathLike, size: Optional[Union[int, tuple[int, int]]] = None
                      ) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Read an ``ImageFolder`` tree into memory.

    Returns ``(images uint8 [N, 3, H, W], labels int64 [N], classes, file stems)``; images are
    converted to RGB and, when ``size`` (an int means a square) is given, resized with
    ``transforms.v2.Resize`` so that they stack.
    """
    if size is not None:
        checks.positive_int("size", size) if isinstance(size, int) else checks.positive_ints("size", size, 2)
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    if isinstance(size, int):
        size = (size, size)
    steps = [v2.PILToTensor()] + ([v2.Resize(size, antialias=True)] if size is not None else [])
    dataset = ImageFolder(str(root), transform=v2.Compose(steps),
                          loader=lambda p: _open_rgb(p))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))]) if len(dataset) else \
        torch.zeros((0, 3, 1, 1), dtype=torch.uint8)
    labels = torch.tensor(dataset.targets, dtype=torch.long)
    stems = [Path(p).stem for p, _ in dataset.samples]
    return images, labels, list(dataset.classes), stems


def _open_rgb(path):
    from PIL import Image
    with Image.open(path) as img:
        return img.convert("RGB")


# ---------------------------------------------------------------------------------------------
# Batch augmentation on the device
# ---------------------------------------------------------------------------------------------

def per_sample(transform: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Apply a ``transforms.v2`` transform to each image of a batch ``[B, C, H, W]`` separately.

    Called on the whole batch tensor, a v2 transform draws its random parameters once, so every
    image would get the same flip or crop; this wrapper draws them per image (on the batch's device).
    """
    def apply(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([transform(x) for x in batch])
    return apply


def image_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool, *,
                 augment: Optional[Callable] = None, transform: Optional[Callable] = None,
                 device: Optional[torch.device] = None, drop_last: bool = False,
                 seed: Optional[int] = None) -> ArrayLoader:
    """Minibatches of uint8 images kept on ``device`` (default ``try_gpu()``).

    Each batch becomes float32 in [0, 1], then ``augment`` (applied per image, see ``per_sample``)
    and ``transform`` (applied to the whole batch, e.g. ``v2.Normalize``) run on the device.
    """
    checks.positive_int("batch_size", batch_size)
    checks.device("device", device, allow_none=True)
    checks.int_at_least("seed", seed, 0, allow_none=True)
    from torchvision.transforms import v2

    to_float = v2.ToDtype(torch.float32, scale=True)
    aug = per_sample(augment) if augment is not None else None

    def batch_transform(x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        if aug is not None:
            x = aug(x)
        return transform(x) if transform is not None else x

    device = try_gpu() if device is None else torch.device(device)
    return ArrayLoader((images, labels), batch_size, shuffle=shuffle, transform=batch_transform,
                       device=device, drop_last=drop_last, seed=seed)
