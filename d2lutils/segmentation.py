"""Semantic segmentation helpers of lectures 46 and 48: Pascal VOC2012 reading, random crops of an
image and its label together, a generated stand-in in VOC layout, a trainer and pixel metrics.

The real VOC2012 archive (2 GB) is known by its URL and d2l's sha1; where it cannot be fetched the
chapters use ``make_voc_standin``: shapes with masks, written as JPEG images and palette PNG labels
in exactly the VOC folder layout, so the same readers work on both.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import cache, checks
from .device import try_gpu
from .hub import DataUnavailableError, cache_dir, local_mirrors, retrieve
from .plotting import Animator
from .progress import progress_enabled
from .train import History, _batches, report
from .utils import Timer

PathLike = Union[str, os.PathLike]

VOC_URL = "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar"
VOC_SHA1 = "4e443f8a2eca6b1dac8a6c57641b67dd40621a49"  # the checksum d2l publishes (sha1 only)
VOC_SUBDIR = Path("VOCdevkit") / "VOC2012"

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "potted plant", "sheep", "sofa", "train", "tv/monitor"]

VOC_COLORMAP = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
                [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0],
                [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128],
                [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]

# ImageNet statistics, used by d2l to normalise VOC images for an ImageNet backbone.
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------------------
# The real data set
# ---------------------------------------------------------------------------------------------

def find_voc() -> Optional[Path]:
    """An already extracted ``VOCdevkit/VOC2012`` in the cache or a local mirror, else ``None``."""
    built = cache_dir() / "extracted" / "VOCtrainval_11-May-2012"  # download_voc's folder: has a manifest
    for base in [built, cache_dir(), *local_mirrors()]:
        d = base / VOC_SUBDIR
        if (d / "ImageSets" / "Segmentation" / "train.txt").is_file() and (
                base != built or cache.folder_is_intact(built, {"sha1": VOC_SHA1})):
            return d
    return None


def download_voc(download: bool = True, timeout: float = 30.0) -> Path:
    """The real Pascal VOC2012 folder: found locally, or downloaded (2 GB, sha1-checked) and extracted.

    Raises ``DataUnavailableError`` when it is not present and cannot be downloaded (or
    ``download=False``).
    """
    checks.positive_number("timeout", timeout)
    found = find_voc()
    if found is not None:
        return found
    if not download:
        raise DataUnavailableError("VOC2012 不在本地缓存中，且未允许下载 (not cached; download=False)")
    dest = cache_dir() / "extracted" / "VOCtrainval_11-May-2012"
    try:
        tar = retrieve(VOC_URL, f"sha1:{VOC_SHA1}", "VOCtrainval_11-May-2012.tar", timeout=timeout)
    except Exception as err:  # noqa: BLE001 - reported to the caller
        raise DataUnavailableError(f"无法下载 VOC2012 ({VOC_URL}): {type(err).__name__}: "
                                   f"{str(err).splitlines()[0][:200] if str(err) else ''}") from err

    def unpack(tmp: Path) -> None:
        with tarfile.open(tar) as tf:
            tf.extractall(tmp, filter="data")
    # under a lock and with a manifest (file sizes): a damaged or half-written folder is unpacked again
    return cache.build_folder(dest, unpack, {"sha1": VOC_SHA1}) / VOC_SUBDIR


def read_voc_images(voc_dir: PathLike, is_train: bool = True
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Read the images and the RGB colour labels listed in ``ImageSets/Segmentation/{train,val}.txt``.

    Returns two lists of uint8 tensors of shape (3, H, W): images and label colour maps.
    """
    from PIL import Image

    def rgb(path: Path) -> torch.Tensor:
        with Image.open(path) as im:
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous()

    voc_dir = Path(voc_dir)
    names = (voc_dir / "ImageSets" / "Segmentation" / ("train.txt" if is_train else "val.txt")
             ).read_text().split()
    features = [rgb(voc_dir / "JPEGImages" / f"{name}.jpg") for name in names]
    labels = [rgb(voc_dir / "SegmentationClass" / f"{name}.png") for name in names]
    return features, labels


def voc_colormap2label() -> torch.Tensor:
    """A lookup table from an RGB colour (as r·256² + g·256 + b) to its VOC class index (others → 0)."""
    table = torch.zeros(256 ** 3, dtype=torch.long)
    for i, (r, g, b) in enumerate(VOC_COLORMAP):
        table[(r * 256 + g) * 256 + b] = i
    return table


def voc_label_indices(colormap: torch.Tensor, colormap2label: torch.Tensor) -> torch.Tensor:
    """Map an RGB label image (3, H, W) to class indices (H, W)."""
    c = colormap.long()
    return colormap2label[(c[0] * 256 + c[1]) * 256 + c[2]]


def voc_rand_crop(feature: torch.Tensor, label: torch.Tensor, height: int, width: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop the same random ``height × width`` window out of an image and its label.

    Uses ``transforms.v2.RandomCrop`` on a ``tv_tensors.Image`` and a ``tv_tensors.Mask``, which
    receive identical crop parameters.
    """
    checks.positive_int("height", height)
    checks.positive_int("width", width)
    from torchvision import tv_tensors
    from torchvision.transforms import v2
    img, mask = v2.RandomCrop((height, width))(tv_tensors.Image(feature), tv_tensors.Mask(label))
    return img.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


class VOCSegDataset(Dataset):
    """VOC-layout segmentation data, cropped to ``crop_size`` (height, width).

    Training examples get a random crop and a random horizontal flip (image and label together);
    validation examples a centre crop, so that evaluation is deterministic. Images smaller than the
    crop are dropped, as in d2l. Items: a normalised float image (3, h, w) and a long label (h, w).
    """

    def __init__(self, is_train: bool, crop_size: Sequence[int], voc_dir: PathLike,
                 mean: Sequence[float] = RGB_MEAN, std: Sequence[float] = RGB_STD):
        checks.positive_ints("crop_size", crop_size, 2)
        checks.finite_numbers("mean", mean, 3)
        checks.finite_numbers("std", std, 3, positive=True)
        from torchvision.transforms import v2
        self.crop_size = tuple(crop_size)
        self.is_train = is_train
        h, w = self.crop_size
        features, labels = read_voc_images(voc_dir, is_train)
        keep = [i for i, f in enumerate(features) if f.shape[1] >= h and f.shape[2] >= w]
        table = voc_colormap2label()
        self.features = [features[i] for i in keep]
        self.labels = [voc_label_indices(labels[i], table) for i in keep]
        self.transform = (v2.Compose([v2.RandomCrop(self.crop_size), v2.RandomHorizontalFlip()])
                          if is_train else v2.CenterCrop(self.crop_size))
        self.normalize = v2.Normalize(mean, std)
        print(f"读取了 {len(self.features)} 个{'训练' if is_train else '验证'}样本"
              f"（{len(features) - len(keep)} 个小于裁剪尺寸的被丢弃）")

    def __getitem__(self, idx):
        from torchvision import tv_tensors
        img, mask = self.transform(tv_tensors.Image(self.features[idx]), tv_tensors.Mask(self.labels[idx]))
        img = self.normalize(img.as_subclass(torch.Tensor).float() / 255)
        return img, mask.as_subclass(torch.Tensor)

    def __len__(self):
        return len(self.features)


def load_data_voc(batch_size: int, crop_size: Sequence[int], voc_dir: Optional[PathLike] = None,
                  num_workers: int = 0, **kwargs) -> tuple[DataLoader, DataLoader]:
    """Training and validation iterators of the VOC segmentation data.

    ``voc_dir=None`` means the real VOC2012 (``download_voc()``); pass the folder returned by
    ``make_voc_standin`` to use the generated stand-in. ``kwargs`` go to ``VOCSegDataset``.
    """
    checks.positive_int("batch_size", batch_size)
    checks.positive_ints("crop_size", crop_size, 2)
    checks.int_at_least("num_workers", num_workers, 0)
    voc_dir = download_voc() if voc_dir is None else voc_dir
    train_iter = DataLoader(VOCSegDataset(True, crop_size, voc_dir, **kwargs), batch_size,
                            shuffle=True, drop_last=True, num_workers=num_workers)
    test_iter = DataLoader(VOCSegDataset(False, crop_size, voc_dir, **kwargs), batch_size,
                           drop_last=False, num_workers=num_workers)
    return train_iter, test_iter


# ---------------------------------------------------------------------------------------------
# The generated stand-in (same folder layout, same palette)
# ---------------------------------------------------------------------------------------------

# The stand-in uses VOC class indices 1–5; each index is drawn as one shape with its own hue.
# The VOC class *names* have no meaning for these shapes.
STANDIN_SHAPES = {1: "圆盘", 2: "正方形", 3: "三角形", 4: "圆环", 5: "十字"}
_STANDIN_HUES = {1: (220, 60, 50), 2: (50, 110, 220), 3: (240, 200, 40), 4: (60, 180, 80),
                 5: (170, 70, 200)}
_STANDIN_VERSION = 1


def _voc_palette() -> list[int]:
    pal = [v for rgb in VOC_COLORMAP for v in rgb]
    pal += [0] * (768 - len(pal))
    pal[255 * 3:256 * 3] = [224, 224, 192]  # VOC's "void / boundary" colour
    return pal


def _draw_shape(draw, cls: int, cx: float, cy: float, r: float, fill: int) -> None:
    if cls == 1:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif cls == 2:
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif cls == 3:
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=fill)
    elif cls == 4:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        draw.ellipse([cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2], fill=0)
    else:
        t = r / 3
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)


def _standin_example(rng: np.random.Generator, size: tuple[int, int]):
    from PIL import Image, ImageDraw
    H = int(rng.integers(round(0.8 * size[0]), size[0] + 1))
    W = int(rng.integers(round(0.8 * size[1]), size[1] + 1))
    # background: a smooth gradient between two dull colours, plus noise
    c0, c1 = rng.uniform(40, 200, 3), rng.uniform(40, 200, 3)
    t = np.linspace(0, 1, W)[None, :, None] * rng.uniform(0.3, 1) + np.linspace(0, 1, H)[:, None, None] * 0.3
    img = c0 + (c1 - c0) * np.clip(t, 0, 1)
    img = img + rng.normal(0, 12, (H, W, 3))
    label = np.zeros((H, W), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.integers(1, 6))
        r = rng.uniform(0.12, 0.28) * min(H, W)
        cx, cy = rng.uniform(r, W - r), rng.uniform(r, H - r)
        m = Image.new("L", (W, H), 0)
        _draw_shape(ImageDraw.Draw(m), cls, cx, cy, r, 255)
        mask = np.asarray(m) > 127
        colour = np.array(_STANDIN_HUES[cls], dtype=float) + rng.normal(0, 20, 3)
        img[mask] = colour + rng.normal(0, 18, (int(mask.sum()), 3))
        label[mask] = cls
    return np.clip(img, 0, 255).astype(np.uint8), label


def make_voc_standin(num_train: int = 1000, num_val: int = 200, image_size: tuple[int, int] = (96, 128),
                     seed: int = 0, root: Optional[PathLike] = None, verbose: bool = True) -> Path:
    """Generate (once) a stand-in for VOC2012 and return its ``…/VOCdevkit/VOC2012`` folder.

    Each image has 1–3 shapes (VOC class indices 1–5, see ``STANDIN_SHAPES``) on a noisy
    gradient background; heights and widths vary between 80 % and 100 % of ``image_size``. Images
    are JPEG, labels palette PNG with VOC's colour map, file lists in ``ImageSets/Segmentation``.
    Deterministic from ``seed``; written to a temporary folder under ``root`` (default
    ``cache_dir()``) and renamed into place when complete.
    """
    checks.positive_int("num_train", num_train)
    checks.positive_int("num_val", num_val)
    checks.positive_ints("image_size", image_size, 2)
    checks.int_at_least("seed", seed, 0)
    from PIL import Image
    params = dict(num_train=num_train, num_val=num_val, image_size=list(image_size), seed=seed,
                  version=_STANDIN_VERSION)
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    base = Path(root) if root is not None else cache_dir()
    dest = base / f"voc-standin-{tag}"
    voc_dir = dest / VOC_SUBDIR
    if cache.folder_is_intact(dest, params):  # its manifest lists every file: damage is noticed
        if verbose:
            print(f"生成的 VOC 替代数据（已缓存）：{num_train} 张训练图片，{num_val} 张验证图片")
        return voc_dir
    base.mkdir(parents=True, exist_ok=True)
    held = cache.lock(dest)
    held.acquire()  # one builder at a time: a second process waits, then reuses the first one's folder
    if cache.folder_is_intact(dest, params):
        held.release()
        return make_voc_standin(num_train, num_val, image_size, seed, root, verbose)
    if dest.exists():
        try:
            cache.discard(dest, "文件与清单不符 / files differ from the manifest",
                          quiet=not (dest / cache.MANIFEST).is_file())
        except cache.CacheDamagedError:
            held.release()
            raise
    tmp = Path(tempfile.mkdtemp(prefix=".voc-standin-", dir=base))
    try:
        tv = tmp / VOC_SUBDIR
        for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (tv / sub).mkdir(parents=True)
        rng = np.random.default_rng(seed)
        palette = _voc_palette()
        names = {"train": [], "val": []}
        for i in range(num_train + num_val):
            split = "train" if i < num_train else "val"
            name = f"standin_{i:06d}"
            img, label = _standin_example(rng, tuple(image_size))
            Image.fromarray(img).save(tv / "JPEGImages" / f"{name}.jpg", quality=90)
            lab = Image.fromarray(label, mode="P")
            lab.putpalette(palette)
            lab.save(tv / "SegmentationClass" / f"{name}.png")
            names[split].append(name)
        for split, lst in names.items():
            (tv / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(lst) + "\n")
        (tmp / "params.json").write_text(json.dumps(params))
        cache.write_manifest(tmp, params)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished first: keep its identical result
            if not (dest / "params.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        held.release()
    if verbose:
        print(f"生成了 VOC 替代数据（不是真实的 VOC2012）：{num_train} 张训练图片，{num_val} 张验证图片")
    return voc_dir


# ---------------------------------------------------------------------------------------------
# Training and metrics for per-pixel classification (lecture 48)
# ---------------------------------------------------------------------------------------------

def confusion_matrix(net: nn.Module, data_iter, num_classes: int,
                     device: Optional[torch.device] = None) -> torch.Tensor:
    """``num_classes × num_classes`` pixel counts: row = true class, column = predicted class."""
    checks.positive_int("num_classes", num_classes)
    checks.device("device", device, allow_none=True)
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
    with torch.no_grad():
        for X, y in data_iter:
            pred = net(X.to(device)).argmax(dim=1).cpu()
            cm += torch.bincount(y.reshape(-1) * num_classes + pred.reshape(-1),
                                 minlength=num_classes ** 2).reshape(num_classes, num_classes)
    net.train(was_training)
    return cm


def segmentation_metrics(cm: torch.Tensor) -> dict[str, float]:
    """Pixel accuracy, mean IoU (over classes that occur or are predicted) and the accuracy of
    predicting background everywhere, from a confusion matrix."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    present = union > 0
    return {"pixel_acc": float(tp.sum() / cm.sum()),
            "miou": float((tp[present] / union[present]).mean()),
            "background_acc": float(cm[0].sum() / cm.sum())}


def train_segmentation(net: nn.Module, train_iter, test_iter, trainer, num_epochs: int,
                       device: Optional[torch.device] = None, scheduler=None, *,
                       animate: bool = True, progress: Optional[bool] = None) -> History:
    """Train a per-pixel classifier with cross-entropy averaged over pixels.

    Accuracies are **pixel** accuracies. Prints ``训练损失 …, 训练精度 …, 测试精度 …`` and
    ``… 样本/秒 (device)`` like ``train_ch6``; returns the History.
    """
    checks.positive_int("num_epochs", num_epochs)
    checks.device("device", device, allow_none=True)
    device = torch.device(device) if device is not None else try_gpu()
    net.to(device)
    history = History(device=str(device))
    animator = Animator(xlabel="轮", xlim=[1, num_epochs],
                        legend=["训练损失", "训练像素精度", "测试像素精度"]) if animate else None
    timer, n_seen, show = Timer(), 0, progress_enabled(progress)
    for epoch in range(num_epochs):
        net.train()
        loss_sum, correct, pixels, n = 0.0, 0, 0, 0
        timer.start()
        for X, y in _batches(train_iter, show, f"epoch {epoch + 1}"):
            X, y = X.to(device), y.to(device)
            trainer.zero_grad(set_to_none=True)
            out = net(X)
            loss = nn.functional.cross_entropy(out, y)
            loss.backward()
            trainer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((out.argmax(dim=1) == y).sum())
            pixels += y.numel()
            n += len(y)
        timer.stop()
        n_seen += n
        if scheduler is not None:
            scheduler.step()
        cm = confusion_matrix(net, test_iter, out.shape[1], device)
        history.train_loss.append(loss_sum / n)
        history.train_acc.append(correct / pixels)
        history.test_acc.append(segmentation_metrics(cm)["pixel_acc"])
        if animator:
            animator.add(epoch + 1, (history.train_loss[-1], history.train_acc[-1], history.test_acc[-1]))
    return report(history, timer.sum(), n_seen)
