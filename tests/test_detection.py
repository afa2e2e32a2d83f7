"""Detection helpers: boxes, anchors, targets, NMS (against torchvision.ops) and the banana stand-in."""
from __future__ import annotations

import torch
import torchvision

from d2lutils import detection as det


def random_boxes(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 0.7
    wh = torch.rand(n, 2, generator=g) * 0.3 + 0.02
    return torch.cat([xy, xy + wh], dim=1)


def test_box_formats_match_torchvision():
    b = random_boxes(20)
    c = det.box_corner_to_center(b)
    assert torch.allclose(c, torchvision.ops.box_convert(b, "xyxy", "cxcywh"), atol=1e-6)
    assert torch.allclose(det.box_center_to_corner(c), b, atol=1e-6)


def test_box_iou_and_nms_match_torchvision():
    b1, b2 = random_boxes(30, 1), random_boxes(40, 2)
    assert torch.allclose(det.box_iou(b1, b2), torchvision.ops.box_iou(b1, b2), atol=1e-6)
    scores = torch.rand(30, generator=torch.Generator().manual_seed(3))
    for t in (0.1, 0.3, 0.7):
        assert torch.equal(det.nms(b1, scores, t), torchvision.ops.nms(b1, scores, t))


def test_multibox_prior_shape_and_boxes():
    X = torch.zeros(1, 3, 4, 6)
    anchors = det.multibox_prior(X, sizes=[0.5, 0.25], ratios=[1, 2, 0.5])
    assert anchors.shape == (1, 4 * 6 * 4, 4)
    first = anchors[0, 0]  # pixel (0, 0), scale 0.5, ratio 1: a square of 0.5*h pixels
    cx, cy = 0.5 / 6, 0.5 / 4
    w_px, h_px = (first[2] - first[0]) * 6, (first[3] - first[1]) * 4
    assert torch.allclose(torch.stack([w_px, h_px]), torch.tensor([2.0, 2.0]))
    assert torch.allclose((first[:2] + first[2:]) / 2, torch.tensor([cx, cy]))


def test_offsets_round_trip_and_assignment():
    anchors = random_boxes(10, 4)
    boxes = random_boxes(10, 5)
    assert torch.allclose(det.offset_inverse(anchors, det.offset_boxes(anchors, boxes)), boxes, atol=1e-5)
    gt = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]])
    anc = torch.tensor([[0.1, 0.1, 0.5, 0.52], [0.0, 0.0, 0.2, 0.2], [0.55, 0.6, 0.9, 0.92],
                        [0.12, 0.1, 0.5, 0.5]])
    assigned = det.assign_anchor_to_bbox(gt, anc, iou_threshold=0.5)
    assert assigned.tolist() == [0, -1, 1, 0]


def test_multibox_target_and_detection():
    anchors = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9], [0.0, 0.5, 0.2, 0.7]]])
    labels = torch.tensor([[[0, 0.1, 0.1, 0.5, 0.5], [-1, 0, 0, 0, 0]]])
    offset, mask, cls = det.multibox_target(anchors, labels)
    assert cls.tolist() == [[1, 0, 0]]
    assert mask.tolist() == [[1.0] * 4 + [0.0] * 8]
    assert torch.allclose(offset, torch.zeros_like(offset), atol=1e-4)
    probs = torch.tensor([[[0.1, 0.8, 0.9], [0.9, 0.2, 0.1]]])
    near = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.5], [0.0, 0.5, 0.2, 0.7]]])
    out = det.multibox_detection(probs, torch.zeros(1, 12), near, nms_threshold=0.5)
    assert out.shape == (1, 3, 6)
    assert out[0, :, 0].tolist() == [0.0, 0.0, -1.0]   # the overlapping lower-scored box is suppressed
    assert torch.allclose(out[0, 0, 1], torch.tensor(0.9))


def test_banana_stand_in_is_deterministic(tmp_path):
    sprites = det.banana_sprites()
    assert len(sprites) == 4
    a = det.make_bananas(tmp_path / "a", num_train=3, num_val=2, size=64, seed=7)
    b = det.make_bananas(tmp_path / "b", num_train=3, num_val=2, size=64, seed=7)
    for split in ("bananas_train", "bananas_val"):
        assert (a / split / "label.csv").read_text() == (b / split / "label.csv").read_text()
    X, y = det.read_data_bananas(True, a)
    assert X.shape == (3, 3, 64, 64) and X.dtype == torch.uint8
    assert y.shape == (3, 1, 5)
    boxes = y[:, 0, 1:]
    assert (boxes >= 0).all() and (boxes <= 1).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    ds = det.BananasDataset(False, size=32, data_dir=a, verbose=False)
    assert ds.generated and len(ds) == 2 and ds[0][0].shape == (3, 32, 32)
