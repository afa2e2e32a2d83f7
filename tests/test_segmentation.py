"""Unit tests for d2lutils.segmentation (VOC readers, stand-in, crops, metrics). Fast; writes only to tmp_path."""
import hashlib

import pytest
import torch
from torch import nn

from d2lutils import segmentation as seg


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    return seg.make_voc_standin(num_train=6, num_val=3, image_size=(40, 48), seed=3, root=root,
                                verbose=False)


def test_colormap_roundtrip():
    table = seg.voc_colormap2label()
    colours = torch.tensor(seg.VOC_COLORMAP, dtype=torch.uint8).T.reshape(3, 1, 21)
    assert seg.voc_label_indices(colours, table).tolist() == [list(range(21))]
    assert len(seg.VOC_CLASSES) == len(seg.VOC_COLORMAP) == 21
    # a colour outside the map (VOC's boundary colour) counts as background
    assert seg.voc_label_indices(torch.tensor([[[224]], [[224]], [[192]]]), table).item() == 0


def test_rand_crop_keeps_image_and_label_aligned():
    torch.manual_seed(0)
    feature = torch.arange(30 * 40, dtype=torch.int64).reshape(1, 30, 40).repeat(3, 1, 1).to(torch.int32)
    label = feature[0].clone()
    for _ in range(5):
        f, l = seg.voc_rand_crop(feature, label, 10, 12)
        assert f.shape == (3, 10, 12) and l.shape == (10, 12)
        assert torch.equal(f[0], l)


def test_standin_layout_and_determinism(standin, tmp_path):
    assert (standin / "ImageSets" / "Segmentation" / "train.txt").read_text().split()[0] == "standin_000000"
    feats, labels = seg.read_voc_images(standin, is_train=True)
    assert len(feats) == 6 and feats[0].dtype == torch.uint8 and feats[0].shape[0] == 3
    assert all(f.shape == l.shape for f, l in zip(feats, labels))
    table = seg.voc_colormap2label()
    idx = torch.cat([seg.voc_label_indices(l, table).reshape(-1) for l in labels])
    assert idx.max() <= 5 and (idx > 0).any() and (idx == 0).any()
    from PIL import Image
    assert Image.open(standin / "SegmentationClass" / "standin_000000.png").mode == "P"
    again = seg.make_voc_standin(num_train=6, num_val=3, image_size=(40, 48), seed=3, root=tmp_path,
                                 verbose=False)
    digest = lambda d: hashlib.sha256(b"".join(  # noqa: E731
        p.read_bytes() for p in sorted((d / "SegmentationClass").iterdir()))).hexdigest()
    assert digest(again) == digest(standin)


def test_dataset_and_loader(standin):
    train_iter, test_iter = seg.load_data_voc(2, (32, 32), standin)
    X, y = next(iter(train_iter))
    assert X.shape == (2, 3, 32, 32) and X.dtype == torch.float32
    assert y.shape == (2, 32, 32) and y.dtype == torch.int64
    a = torch.cat([y for _, y in test_iter])
    b = torch.cat([y for _, y in test_iter])
    assert torch.equal(a, b)  # validation crops are deterministic


def test_metrics():
    cm = torch.tensor([[6, 2], [1, 1]])
    m = seg.segmentation_metrics(cm)
    assert m["pixel_acc"] == pytest.approx(0.7)
    assert m["background_acc"] == pytest.approx(0.8)
    assert m["miou"] == pytest.approx((6 / 9 + 1 / 4) / 2)


def test_confusion_matrix_of_constant_net():
    class AllBackground(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, X):
            out = torch.zeros(X.shape[0], 3, *X.shape[2:])
            out[:, 0] = 1
            return out + self.w
    y = torch.tensor([[[0, 1], [2, 0]]])
    cm = seg.confusion_matrix(AllBackground(), [(torch.zeros(1, 3, 2, 2), y)], 3)
    assert cm[:, 0].tolist() == [2, 1, 1] and cm.sum() == 4


def test_download_voc_without_network_permission(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("D2L_DATA_MIRROR", "")
    with pytest.raises(seg.DataUnavailableError):
        seg.download_voc(download=False)
