"""Caches that the helpers write survive damage (issue 33): a truncated, foreign or missing file is
noticed and rebuilt; an entry that cannot be removed stops with an error that names it; two processes
building the same entry at once both end with a good one. Tiny settings: each test takes seconds."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
import warnings
from pathlib import Path

import pytest
import torch

import d2lutils as d2l
from d2lutils import bert, cache, detection, segmentation, vision
from archives import zip_bytes

FORK = multiprocessing.get_context("fork")  # the children reuse the imported torch: fast


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Every cache (and the lock files) of a test under its tmp_path."""
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _run_in_two_processes(target, *args) -> None:
    procs = [FORK.Process(target=target, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign(path: Path) -> None:
    """Same size, other bytes: only a content check notices."""
    size = path.stat().st_size
    path.write_bytes(bytes((i * 7 + 3) % 256 for i in range(size)))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != cache.MANIFEST:
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- the cache module
def _slow_build(tmp: Path) -> None:
    (tmp / "a.txt").write_text("alpha\n" * 100)
    (tmp / "sub").mkdir()
    time.sleep(0.3)   # long enough for two processes to overlap
    (tmp / "sub" / "b.bin").write_bytes(bytes(range(256)) * 20)
    with open(tmp.parent / "builds.log", "a") as f:
        f.write("built\n")


@pytest.mark.parametrize("damage", ["truncate", "foreign", "delete", "no manifest", "garbage manifest"])
def test_folder_damage_is_noticed_and_rebuilt(tmp_path, damage):
    dest = cache.build_folder(tmp_path / "entry", _slow_build, {"v": 1})
    good = _digest(dest)
    assert cache.folder_is_intact(dest, {"v": 1}) and not cache.folder_is_intact(dest, {"v": 2})
    target = dest / "sub" / "b.bin"
    if damage == "truncate":
        _truncate(target)
    elif damage == "foreign":
        _foreign(target)
    elif damage == "delete":
        target.unlink()
    elif damage == "no manifest":          # a half-written folder, or one from before manifests
        (dest / cache.MANIFEST).unlink()
    else:
        (dest / cache.MANIFEST).write_text("{not json")
    assert not cache.folder_is_intact(dest, {"v": 1})
    if damage == "no manifest":   # half-built or from before manifests: rebuilt without a warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cache.build_folder(dest, _slow_build, {"v": 1})
    else:
        with pytest.warns(UserWarning, match="damaged"):
            cache.build_folder(dest, _slow_build, {"v": 1})
    assert cache.folder_is_intact(dest, {"v": 1}) and _digest(dest) == good
    assert (tmp_path / "builds.log").read_text().count("built") == 2


def test_two_processes_build_a_folder_once(tmp_path):
    _run_in_two_processes(cache.build_folder, tmp_path / "entry", _slow_build, None)
    assert cache.folder_is_intact(tmp_path / "entry")
    assert (tmp_path / "builds.log").read_text().count("built") == 1   # the second one waited and reused it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["builds.log", "data", "entry"]
    assert len(list((tmp_path / "data" / ".locks").iterdir())) == 1


def test_damaged_entry_that_cannot_be_removed_is_named(tmp_path, monkeypatch):
    dest = cache.build_folder(tmp_path / "entry", _slow_build)
    _truncate(dest / "a.txt")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")
    monkeypatch.setattr(cache.shutil, "rmtree", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(cache.CacheDamagedError, match=r"entry.*删除|delete it") as err:
            cache.build_folder(dest, _slow_build)
    assert str(dest) in str(err.value)


def test_load_or_build_replaces_a_damaged_file(tmp_path):
    path = tmp_path / "value.txt"
    calls = []

    def load(p: Path) -> int:
        text = p.read_text()
        if not text.endswith("\n"):
            raise ValueError("truncated")
        return int(text)

    def build() -> int:
        calls.append(1)
        return 12345

    save = lambda value, p: p.write_text(f"{value}\n")  # noqa: E731
    assert cache.load_or_build(path, load, build, save) == (12345, False)
    assert cache.load_or_build(path, load, build, save) == (12345, True)
    path.write_text("123")                                  # truncated
    with pytest.warns(UserWarning, match="damaged"):
        assert cache.load_or_build(path, load, build, save) == (12345, False)
    assert len(calls) == 2 and path.read_text() == "12345\n"


@pytest.mark.parametrize("damage", [_truncate, _foreign])
def test_members_taken_from_a_zip_are_checked_by_crc(tmp_path, damage):
    archive = tmp_path / "a.zip"
    payload = os.urandom(5000)
    archive.write_bytes(zip_bytes({"d/x.bin": payload}))
    out = tmp_path / "out" / "x.bin"
    cache.extract_members(archive, {"d/x.bin": out})
    assert out.read_bytes() == payload
    damage(out)
    with pytest.warns(UserWarning, match="damaged"):
        cache.extract_members(archive, {"d/x.bin": out})
    assert out.read_bytes() == payload


# ------------------------------------------------------------------------- the helpers' caches
RESNET = dict(width=2, epochs=1, num_train=64, img_size=12, batch_size=32, device=torch.device("cpu"),
              verbose=False)


def _resnet_in_child() -> None:
    torch.set_num_threads(1)
    d2l.pretrained_fashion_resnet(**RESNET)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign weights"])
def test_pretrained_fashion_resnet_rebuilds_a_damaged_file(tmp_path, monkeypatch, damage, one_thread):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    net = d2l.pretrained_fashion_resnet(**RESNET)
    (path,) = (tmp_path / "models").glob("*.pt")
    if damage == "truncate":
        _truncate(path)
    elif damage == "garbage":
        path.write_bytes(b"not a torch file")
    else:   # a readable file, but weights of another model
        torch.save({"state_dict": d2l.resnet18(10, 1, 4).state_dict(), "test_acc": 0.5}, path)
    with pytest.warns(UserWarning, match=str(path.name)):
        again = d2l.pretrained_fashion_resnet(**RESNET)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)   # rebuilt: the same deterministic training
    assert torch.load(path, weights_only=True)["state_dict"].keys() == net.state_dict().keys()


def test_pretrained_fashion_resnet_two_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    _run_in_two_processes(_resnet_in_child)
    assert [p.name for p in (tmp_path / "models").iterdir() if p.suffix == ".pt"] == [
        "fashion_resnet18_w2_e1_n64_px12_b32_lr0.05_seed0.pt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # a good file: loaded without a damage warning
        d2l.pretrained_fashion_resnet(**RESNET)


BERT = dict(settings=dict(num_hiddens=8, norm_shape=[8], ffn_num_input=8, ffn_num_hiddens=16, num_heads=2,
                          num_layers=1, dropout=0.0, max_len=32, key_size=8, query_size=8, value_size=8,
                          hid_in_features=8, mlm_in_features=8, nsp_in_features=8),
            batch_size=16, max_len=32, num_steps=2, splits=("valid",))


def _bert_in_child() -> None:
    torch.set_num_threads(1)
    bert.pretrained_bert(**BERT)


def test_pretrained_bert_rebuilds_a_damaged_file_and_two_processes_agree(tmp_path, monkeypatch, capsys,
                                                                         one_thread):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    _run_in_two_processes(_bert_in_child)
    (path,) = (tmp_path / "bert").glob("*.pt")
    net, _, history = bert.pretrained_bert(**BERT)
    assert history is None                                  # loaded: the two processes left a good file
    _truncate(path)
    with pytest.warns(UserWarning, match=path.name):
        again, _, history = bert.pretrained_bert(**BERT)
    assert history is not None and len(history.mlm_loss) == 2
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert [p.name for p in (tmp_path / "bert").iterdir()] == [path.name]   # no temporary file left


def _tiny_bananas(tmp: Path) -> None:
    detection.make_bananas(tmp, num_train=3, num_val=2, size=32, seed=1)


def test_generated_bananas_rebuilt_after_damage_and_built_once_by_two_processes(tmp_path):
    dest = tmp_path / "bananas-generated"
    _run_in_two_processes(detection._install_atomically, dest, _tiny_bananas)
    good = _digest(dest)
    X, y = detection.read_data_bananas(True, dest)
    assert X.shape == (3, 3, 32, 32)
    _truncate(dest / "bananas_train" / "images" / "1.jpg")
    with pytest.warns(UserWarning, match="damaged"):
        detection._install_atomically(dest, _tiny_bananas)
    assert _digest(dest) == good
    (dest / "bananas_val" / "label.csv").write_text("garbage")
    with pytest.warns(UserWarning, match="damaged"):
        detection._install_atomically(dest, _tiny_bananas)
    assert _digest(dest) == good


def _standin_in_child(root: Path) -> None:
    segmentation.make_voc_standin(num_train=6, num_val=3, image_size=(40, 48), seed=3, root=root, verbose=False)


def test_voc_standin_rebuilt_after_damage_and_built_once_by_two_processes(tmp_path, capsys):
    tmp_path = tmp_path / "voc"
    _run_in_two_processes(_standin_in_child, tmp_path)
    (dest,) = tmp_path.glob("voc-standin-*")
    good = _digest(dest)
    voc = dest / "VOCdevkit" / "VOC2012"
    _truncate(voc / "SegmentationClass" / "standin_000002.png")
    with pytest.warns(UserWarning, match="damaged"):
        again = segmentation.make_voc_standin(num_train=6, num_val=3, image_size=(40, 48), seed=3,
                                              root=tmp_path, verbose=True)
    assert again == voc and _digest(dest) == good
    assert "生成了" in capsys.readouterr().out
    (voc / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.warns(UserWarning, match="damaged"):
        _standin_in_child(tmp_path)
    assert _digest(dest) == good and len(segmentation.read_voc_images(voc, False)[0]) == 3
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]   # no half-built folder left


def test_kaggle_archive_extraction_is_checked(tmp_path, monkeypatch):
    payload = {"tiny/train/1.png": os.urandom(300), "tiny/trainLabels.csv": b"id,label\n1,cat\n"}
    data = zip_bytes(payload)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.zip").write_bytes(data)
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    monkeypatch.setitem(vision.DATA_HUB, "tiny", ("http://127.0.0.1:9/tiny.zip", hashlib.sha1(data).hexdigest()))
    folder = vision.download_extract("tiny", download=False)
    assert (folder / "tiny" / "trainLabels.csv").read_bytes() == payload["tiny/trainLabels.csv"]
    _foreign(folder / "tiny" / "train" / "1.png")
    with pytest.warns(UserWarning, match="damaged"):
        folder = vision.download_extract("tiny", download=False)
    assert (folder / "tiny" / "train" / "1.png").read_bytes() == payload["tiny/train/1.png"]


def test_wikitext_and_snli_files_are_checked_against_their_zip(tmp_path, monkeypatch):
    wiki = {"wikitext-2/wiki.train.tokens": b" = Title = \n a b . c d . \n" * 50}
    snli = {"snli_1.0/snli_1.0_train.txt": b"gold_label\tsentence1\tsentence2\n" + b"neutral\ta\tb\n" * 20,
            "snli_1.0/snli_1.0_test.txt": b"gold_label\tsentence1\tsentence2\nentailment\tc\td\n"}
    archives = {"wikitext-2-v1.zip": zip_bytes(wiki), "snli_1.0.zip": zip_bytes(snli)}
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))

    def fake_download(url, sha1, fname):
        path = tmp_path / fname
        path.write_bytes(archives[fname])
        return path
    monkeypatch.setattr(bert, "_download", fake_download)
    out = bert.wikitext2_file("train")
    _truncate(out)
    with pytest.warns(UserWarning, match="damaged"):
        assert bert.wikitext2_file("train").read_bytes() == wiki["wikitext-2/wiki.train.tokens"]
    folder = bert.snli_dir()
    _foreign(folder / "snli_1.0_test.txt")
    with pytest.warns(UserWarning, match="damaged"):
        folder = bert.snli_dir()
    assert bert.read_snli(folder, False) == (["c"], ["d"], [0])
    assert len(bert.read_snli(folder, True)[0]) == 20


def test_extracted_dataset_archive_is_checked(isolated_data, monkeypatch, tmp_path):
    """hub.extract (e.g. fra-eng.zip for read_data_nmt): a damaged file is noticed, the archive extracted again."""
    from d2lutils import hub
    payload = {"pkg/fra.txt": b"go .\tva !\n" * 200}
    data = zip_bytes(payload)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "pkg.zip").write_bytes(data)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    monkeypatch.setitem(hub.REGISTRY, "pkg.zip", hub.Entry("pkg.zip", hashlib.sha256(data).hexdigest(), (), "test"))
    out = hub.extract("pkg.zip")
    for damage in (_truncate, _foreign, lambda p: p.unlink()):
        damage(out / "pkg" / "fra.txt")
        assert hub.extract("pkg.zip") == out
        assert (out / "pkg" / "fra.txt").read_bytes() == payload["pkg/fra.txt"]
