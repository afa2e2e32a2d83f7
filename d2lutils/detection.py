"""Object detection helpers (lectures 41, 42, 45): bounding boxes, anchor boxes and the banana set.

Boxes are tensors of shape (..., 4).  "corner" format is (xmin, ymin, xmax, ymax), "center" format
is (cx, cy, w, h).  Anchors and labels use coordinates divided by the image width/height (0..1).

The banana detection set of d2l (``banana-detection.zip``, 1000 training and 100 validation images
of 256×256 pixels, one banana each) is used when it can be found or downloaded (checked by its sha1).
Otherwise a stand-in is generated the way d2l made the original: bananas cut by colour out of
``img/banana.jpg`` are pasted, rotated and scaled at random, onto crops of the book's other images.
The stand-in is deterministic for a seed and cached under ``cache_dir()``.
"""
from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pooch
import torch
from torch.nn import functional as F

from . import cache, checks
from .hub import _check_member, cache_dir, fetch, local_mirrors, retrieve

# --------------------------------------------------------------------------------------------
# Bounding boxes (lecture 41)
# --------------------------------------------------------------------------------------------


def box_corner_to_center(boxes: torch.Tensor) -> torch.Tensor:
    """(xmin, ymin, xmax, ymax) -> (cx, cy, w, h)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def box_center_to_corner(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (xmin, ymin, xmax, ymax)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def bbox_to_rect(bbox, color: str = "red", linewidth: float = 2):
    """A matplotlib Rectangle for a corner-format box (in pixels)."""
    checks.positive_number("linewidth", linewidth)
    from matplotlib import pyplot as plt
    x1, y1, x2, y2 = [float(v) for v in bbox]
    return plt.Rectangle(xy=(x1, y1), width=x2 - x1, height=y2 - y1, fill=False,
                         edgecolor=color, linewidth=linewidth)


def show_bboxes(axes, bboxes, labels: Optional[Sequence[str]] = None,
                colors: Optional[Sequence[str]] = None) -> None:
    """Draw corner-format boxes (pixels) with optional labels on a matplotlib axes.

    A label sits inside its box's top-left corner, moved inside the axes when the box crosses
    the image border (anchors may), so every label stays within its panel.
    """
    if isinstance(labels, str):
        labels = [labels]
    colors = list(colors) if colors else ["b", "g", "r", "m", "c"]
    for i, bbox in enumerate(bboxes):
        if hasattr(bbox, "detach"):
            bbox = bbox.detach().cpu()
        color = colors[i % len(colors)]
        rect = bbox_to_rect(bbox, color)
        axes.add_patch(rect)
        if labels and len(labels) > i:
            text_color = "k" if color == "w" else "w"
            (x_lo, x_hi), (y_lo, y_hi) = sorted(axes.get_xlim()), sorted(axes.get_ylim())
            x = min(max(rect.xy[0], x_lo), x_hi)
            y = min(max(rect.xy[1], y_lo), y_hi)
            axes.text(x, y, labels[i], va="top", ha="left", fontsize=8, color=text_color,
                      bbox=dict(facecolor=color, lw=0, pad=1), clip_on=True)


# --------------------------------------------------------------------------------------------
# Anchor boxes, IoU, assignment, offsets, NMS (lecture 42)
# --------------------------------------------------------------------------------------------


def multibox_prior(data: torch.Tensor, sizes: Sequence[float], ratios: Sequence[float]) -> torch.Tensor:
    """Anchor boxes centred on every pixel of ``data`` (…, h, w): shape (1, h*w*(n+m-1), 4).

    A scale s and a ratio r give a box of s*h*sqrt(r) by s*h/sqrt(r) pixels (width by height);
    the pairs are (s_1, r_j) for all j and (s_i, r_1) for i >= 2.  Coordinates are divided by w, h.
    """
    checks.finite_numbers("sizes", sizes, positive=True)
    checks.finite_numbers("ratios", ratios, positive=True)
    h, w = data.shape[-2:]
    device = data.device
    s = torch.tensor(list(sizes), dtype=torch.float32, device=device)
    r = torch.tensor(list(ratios), dtype=torch.float32, device=device)
    scales = torch.cat([s, s[0].repeat(len(r) - 1)])
    rats = torch.cat([r[0].repeat(len(s)), r[1:]])
    half_w = scales * torch.sqrt(rats) * h / w / 2
    half_h = scales / torch.sqrt(rats) / 2
    offsets = torch.stack([-half_w, -half_h, half_w, half_h], dim=1)          # (k, 4)
    cy = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    cx = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)         # (h*w, 1, 4)
    return (centres + offsets).reshape(1, -1, 4)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of corner-format boxes: shape (len(boxes1), len(boxes2))."""
    def area(b):
        return (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    union = area(boxes1)[:, None] + area(boxes2)[None, :] - inter
    return inter / union


def assign_anchor_to_bbox(ground_truth: torch.Tensor, anchors: torch.Tensor,
                          device: Optional[torch.device] = None,
                          iou_threshold: float = 0.5) -> torch.Tensor:
    """For each anchor the index of its ground-truth box, or -1 (background).

    First every ground-truth box takes the anchor it overlaps most (largest IoU left in the table,
    then that row and column are removed); then every other anchor takes the box it overlaps most
    if that IoU is at least ``iou_threshold``.
    """
    checks.device("device", device, allow_none=True)
    checks.number_in_range("iou_threshold", iou_threshold, 0.0, 1.0)
    num_anchors, num_gt = anchors.shape[0], ground_truth.shape[0]
    iou = box_iou(anchors, ground_truth)
    assigned = torch.full((num_anchors,), -1, dtype=torch.long, device=anchors.device)
    if num_gt == 0:
        return assigned
    best_iou, best_gt = iou.max(dim=1)
    keep = best_iou >= iou_threshold
    assigned[keep] = best_gt[keep]
    table = iou.clone()
    for _ in range(num_gt):
        k = int(torch.argmax(table))
        a, g = k // num_gt, k % num_gt
        assigned[a] = g
        table[a, :] = -1
        table[:, g] = -1
    return assigned


def offset_boxes(anchors: torch.Tensor, assigned_bb: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Offsets of boxes relative to anchors (both corner format), scaled by (10, 10, 5, 5)."""
    checks.positive_number("eps", eps)
    a = box_corner_to_center(anchors)
    b = box_corner_to_center(assigned_bb)
    offset_xy = 10 * (b[:, :2] - a[:, :2]) / a[:, 2:]
    offset_wh = 5 * torch.log(eps + b[:, 2:] / a[:, 2:])
    return torch.cat([offset_xy, offset_wh], dim=1)


def offset_inverse(anchors: torch.Tensor, offset_preds: torch.Tensor) -> torch.Tensor:
    """Boxes (corner format) from anchors and predicted offsets: the inverse of ``offset_boxes``."""
    a = box_corner_to_center(anchors)
    xy = offset_preds[:, :2] * a[:, 2:] / 10 + a[:, :2]
    wh = torch.exp(offset_preds[:, 2:] / 5) * a[:, 2:]
    return box_center_to_corner(torch.cat([xy, wh], dim=1))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: indices of the kept boxes, highest score first."""
    checks.number_in_range("iou_threshold", iou_threshold, 0.0, 1.0)
    order = torch.argsort(scores, descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        iou = box_iou(boxes[i].unsqueeze(0), boxes[order[1:]]).reshape(-1)
        order = order[1:][iou <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long, device=boxes.device)


def multibox_target(anchors: torch.Tensor, labels: torch.Tensor):
    """Training targets for anchors (1, A, 4) and labels (B, G, 5) = (class, xmin, ymin, xmax, ymax).

    Rows of ``labels`` with class < 0 are padding.  Returns ``(bbox_offset (B, A*4),
    bbox_mask (B, A*4), class_labels (B, A))``; class 0 is background, class c of a box becomes c+1.
    """
    anchors = anchors.reshape(-1, 4)
    offsets, masks, classes = [], [], []
    for label in labels:
        label = label[label[:, 0] >= 0]
        assigned = assign_anchor_to_bbox(label[:, 1:], anchors)
        pos = assigned >= 0
        cls = torch.zeros(anchors.shape[0], dtype=torch.long, device=anchors.device)
        boxes = torch.zeros_like(anchors)
        cls[pos] = label[assigned[pos], 0].long() + 1
        boxes[pos] = label[assigned[pos], 1:]
        mask = pos.float().unsqueeze(1).repeat(1, 4)
        offsets.append((offset_boxes(anchors, boxes) * mask).reshape(-1))
        masks.append(mask.reshape(-1))
        classes.append(cls)
    return torch.stack(offsets), torch.stack(masks), torch.stack(classes)


def multibox_detection(cls_probs: torch.Tensor, offset_preds: torch.Tensor, anchors: torch.Tensor,
                       nms_threshold: float = 0.5, pos_threshold: float = 0.01) -> torch.Tensor:
    """Predicted boxes after NMS: shape (B, A, 6) = (class, score, xmin, ymin, xmax, ymax).

    ``cls_probs`` is (B, C+1, A) with background at index 0.  Each anchor predicts its most likely
    object class; NMS runs over all anchors of an image.  Kept boxes come first, highest score
    first; suppressed boxes and boxes scoring below ``pos_threshold`` get class -1.
    """
    checks.number_in_range("nms_threshold", nms_threshold, 0.0, 1.0)
    checks.number_in_range("pos_threshold", pos_threshold, 0.0, 1.0)
    anchors = anchors.reshape(-1, 4)
    out = []
    for probs, offs in zip(cls_probs, offset_preds):
        score, class_id = probs[1:].max(dim=0)
        boxes = offset_inverse(anchors, offs.reshape(-1, 4))
        keep = nms(boxes, score, nms_threshold)
        is_kept = torch.zeros_like(score, dtype=torch.bool)
        is_kept[keep] = True
        rest = torch.nonzero(~is_kept).reshape(-1)
        rest = rest[torch.argsort(score[rest], descending=True)]
        order = torch.cat([keep, rest])
        cls = class_id.float().clone()
        cls[~is_kept] = -1
        cls[score < pos_threshold] = -1
        out.append(torch.cat([cls[order, None], score[order, None], boxes[order]], dim=1))
    return torch.stack(out)


# --------------------------------------------------------------------------------------------
# The banana detection set (lectures 41 and 45)
# --------------------------------------------------------------------------------------------

BANANA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/banana-detection.zip"
BANANA_SHA1 = "5de26c8fce5ccdea9f91267273464dc968d20d72"
BANANA_ZIP = "banana-detection.zip"
# Backgrounds of the stand-in: the validation images use a picture the training images never see.
BANANA_BACKGROUNDS = {"train": ("img/rainier.jpg", "img/autumn-oak.jpg", "img/catdog.jpg"),
                      "val": ("img/cat1.jpg",)}
_GENERATOR_VERSION = 2
_DONE = ".d2l-complete"
GENERATED_MARKER = "GENERATED.txt"



def _real_banana_zip(download: bool, timeout: float) -> Optional[Path]:
    """The original archive, from the cache, a local mirror or (if allowed) d2l's server."""
    for folder in [cache_dir()] + local_mirrors():
        p = folder / BANANA_ZIP
        if p.is_file() and pooch.file_hash(str(p), alg="sha1") == BANANA_SHA1:
            return p
    if not download:
        return None
    try:
        return retrieve(BANANA_URL, f"sha1:{BANANA_SHA1}", BANANA_ZIP, timeout=timeout)
    except Exception:  # noqa: BLE001 - no network or a bad file: fall back to the stand-in
        return None


def _install_atomically(dest: Path, build) -> Path:
    """Run ``build(tmp_folder)`` and rename the folder to ``dest`` when it finished.

    Under a lock (a second process waits and reuses the folder) and with a manifest of every file's
    size and sha256, so that a truncated, missing or foreign file is noticed and the folder rebuilt.
    """
    return cache.build_folder(dest, lambda tmp: (build(tmp), (tmp / _DONE).write_text("ok")))


def _extract_real(archive: Path) -> Path:
    def build(tmp: Path) -> None:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info.filename)
            zf.extractall(tmp)
    dest = _install_atomically(cache_dir() / "extracted" / "banana-detection", build)
    found = sorted(p.parent for p in dest.rglob("bananas_train"))
    return found[0] if found else dest


def banana_sprites(min_pixels: int = 300) -> list:
    """Bananas cut out of ``img/banana.jpg`` by colour: RGBA PIL images, one per banana."""
    checks.positive_int("min_pixels", min_pixels)
    from PIL import Image
    img = Image.open(fetch("img/banana.jpg")).convert("RGB")
    h, s, v = [np.asarray(c, dtype=np.int16) for c in img.convert("HSV").split()]
    mask = (h > 18) & (h < 48) & (s > 80) & (v > 160)           # yellow, saturated, bright
    t = torch.from_numpy(mask).float()[None, None]
    t = -F.max_pool2d(-F.max_pool2d(t, 5, 1, 2), 5, 1, 2)       # closing fills small holes
    t = F.max_pool2d(t, 3, 1, 1)                                 # include the dark outline
    mask = t[0, 0].numpy() > 0.5
    labels = _components(mask)
    rgb = np.asarray(img)
    H, W = mask.shape
    sprites = []
    for k in range(1, labels.max() + 1):
        ys, xs = np.nonzero(labels == k)
        if len(ys) < min_pixels or ys.min() == 0 or xs.min() == 0 or ys.max() == H - 1 or xs.max() == W - 1:
            continue  # too small, or cut by the image border
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        alpha = ((labels[y0:y1, x0:x1] == k) * 255).astype(np.uint8)
        rgba = np.dstack([rgb[y0:y1, x0:x1], alpha])
        sprites.append(Image.fromarray(rgba, "RGBA"))
    return sprites


def _components(mask: np.ndarray) -> np.ndarray:
    """8-connected component labels of a boolean mask (0 = background)."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    H, W = mask.shape
    current = 0
    for y, x in zip(*np.nonzero(mask)):
        if labels[y, x]:
            continue
        current += 1
        labels[y, x] = current
        stack = [(y, x)]
        while stack:
            a, b = stack.pop()
            for p in range(max(a - 1, 0), min(a + 2, H)):
                for q in range(max(b - 1, 0), min(b + 2, W)):
                    if mask[p, q] and not labels[p, q]:
                        labels[p, q] = current
                        stack.append((p, q))
    return labels


def make_banana_image(backgrounds: Sequence, sprites: Sequence, rng: np.random.Generator,
                      size: int = 256):
    """One stand-in example: a banana pasted on a random crop. Returns (RGB image, (x0, y0, x1, y1))."""
    checks.non_empty("backgrounds", backgrounds)
    checks.non_empty("sprites", sprites)
    checks.positive_int("size", size)
    from PIL import Image
    bg = backgrounds[int(rng.integers(len(backgrounds)))]
    side = int(min(bg.size) * rng.uniform(0.35, 1.0))
    left = int(rng.integers(0, bg.size[0] - side + 1))
    top = int(rng.integers(0, bg.size[1] - side + 1))
    canvas = bg.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    banana = sprites[int(rng.integers(len(sprites)))]
    if rng.random() < 0.5:
        banana = banana.transpose(Image.FLIP_LEFT_RIGHT)
    banana = banana.rotate(float(rng.uniform(-180, 180)), resample=Image.BILINEAR, expand=True)
    banana = banana.crop(banana.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox())
    longest = rng.uniform(0.18, 0.45) * size
    scale = longest / max(banana.size)
    bw, bh = max(int(round(banana.size[0] * scale)), 2), max(int(round(banana.size[1] * scale)), 2)
    banana = banana.resize((bw, bh), Image.BILINEAR)
    x = int(rng.integers(0, size - bw + 1))
    y = int(rng.integers(0, size - bh + 1))
    canvas.paste(banana, (x, y), banana)
    box = banana.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox()
    return canvas, (x + box[0], y + box[1], x + box[2], y + box[3])


def make_bananas(root, num_train: int = 1000, num_val: int = 100, size: int = 256,
                 seed: int = 0) -> Path:
    """Write a generated banana set in d2l's layout (``bananas_{train,val}/images``, ``label.csv``)."""
    checks.positive_int("num_train", num_train)
    checks.positive_int("num_val", num_val)
    checks.positive_int("size", size)
    checks.int_at_least("seed", seed, 0)
    from PIL import Image
    root = Path(root)
    sprites = banana_sprites()
    for split, n in (("train", num_train), ("val", num_val)):
        bgs = []
        for name in BANANA_BACKGROUNDS[split]:
            bg = Image.open(fetch(name)).convert("RGB")
            shrink = min(bg.size) / (3 * size)                     # crops need no more pixels
            if shrink > 1:
                bg = bg.resize((round(bg.size[0] / shrink), round(bg.size[1] / shrink)), Image.BILINEAR)
            bgs.append(bg)
        folder = root / f"bananas_{split}"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = ["img_name,label,xmin,ymin,xmax,ymax"]
        for i in range(n):
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
            img, (x0, y0, x1, y1) = make_banana_image(bgs, sprites, rng, size)
            img.save(folder / "images" / f"{i}.jpg", quality=95)   # JPEG: 10× smaller and faster than PNG
            rows.append(f"{i}.jpg,0,{x0},{y0},{x1},{y1}")
        (folder / "label.csv").write_text("\n".join(rows) + "\n")
    (root / GENERATED_MARKER).write_text(
        f"Generated stand-in for d2l's banana-detection set (seed {seed}, {size} px): bananas cut from "
        f"img/banana.jpg pasted on crops of {', '.join(sum(BANANA_BACKGROUNDS.values(), ()))}.\n")
    return root


@lru_cache(maxsize=None)
def banana_data_dir(download: bool = True, seed: int = 0, timeout: float = 10.0) -> tuple[Path, bool]:
    """Folder holding ``bananas_train`` and ``bananas_val``, and whether it is the generated stand-in.

    The original ``banana-detection.zip`` (sha1-checked) is used when it is in the cache, in a
    folder of ``$D2L_DATA_MIRROR`` or downloadable; otherwise the stand-in is generated once
    (into a temporary folder that is renamed into ``cache_dir()`` when complete).
    """
    checks.int_at_least("seed", seed, 0)
    checks.positive_number("timeout", timeout)
    archive = _real_banana_zip(download, timeout)
    if archive is not None:
        return _extract_real(archive), False
    dest = cache_dir() / f"bananas-generated-v{_GENERATOR_VERSION}-seed{seed}"
    return _install_atomically(dest, lambda tmp: make_bananas(tmp, seed=seed)), True


def read_data_bananas(is_train: bool = True, data_dir=None, num_examples: Optional[int] = None):
    """Images (uint8, N×3×H×W) and labels (N×1×5: class, box divided by the image size)."""
    checks.positive_int("num_examples", num_examples, allow_none=True)
    from PIL import Image
    if data_dir is None:
        data_dir, _ = banana_data_dir()
    folder = Path(data_dir) / ("bananas_train" if is_train else "bananas_val")
    lines = (folder / "label.csv").read_text().strip().splitlines()[1:]
    if num_examples is not None:
        lines = lines[:num_examples]
    images, targets = [], []
    for line in lines:
        name, *vals = line.split(",")
        with Image.open(folder / "images" / name) as im:
            img = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
        h, w = img.shape[-2:]
        images.append(img)
        c, x0, y0, x1, y1 = [float(v) for v in vals]
        targets.append([c, x0 / w, y0 / h, x1 / w, y1 / h])
    return torch.stack(images), torch.tensor(targets).unsqueeze(1)


class BananasDataset(torch.utils.data.Dataset):
    """The banana set as a Dataset of (float image 0..255, labels (1, 5)); ``size`` resizes once."""

    def __init__(self, is_train: bool, size: Optional[int] = None, num_examples: Optional[int] = None,
                 data_dir=None, verbose: bool = True):
        checks.positive_int("size", size, allow_none=True)
        checks.positive_int("num_examples", num_examples, allow_none=True)
        if data_dir is None:
            data_dir, _ = banana_data_dir()
        self.generated = (Path(data_dir) / GENERATED_MARKER).is_file()
        self.features, self.labels = read_data_bananas(is_train, data_dir, num_examples)
        if size is not None and tuple(self.features.shape[-2:]) != (size, size):
            self.features = torch.cat([
                F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False).round().clamp(0, 255).to(torch.uint8)
                for chunk in self.features.split(64)])
        if verbose:
            kind = "训练" if is_train else "验证"
            src = "生成的替代数据" if self.generated else "原始数据"
            print(f"读取 {len(self.features)} 个{kind}样本（{src}，"
                  f"{self.features.shape[-1]}×{self.features.shape[-2]} 像素）")

    def __getitem__(self, idx):
        return self.features[idx].float(), self.labels[idx]

    def __len__(self) -> int:
        return len(self.features)


def load_data_bananas(batch_size: int, size: int = 256, num_train: Optional[int] = None,
                      num_val: Optional[int] = None):
    """DataLoaders (train shuffled, val in order) of the banana set at ``size``×``size`` pixels."""
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("size", size)
    checks.positive_int("num_train", num_train, allow_none=True)
    checks.positive_int("num_val", num_val, allow_none=True)
    train = BananasDataset(True, size, num_train)
    val = BananasDataset(False, size, num_val)
    train_iter = torch.utils.data.DataLoader(train, batch_size, shuffle=True)
    val_iter = torch.utils.data.DataLoader(val, batch_size)
    return train_iter, val_iter
