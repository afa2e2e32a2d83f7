"""Faults and bad input: concurrent extraction, trickling downloads, crash leftovers, cache faults,
bad arguments and environment variables. Each test failed before the fix it checks."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import d2lutils as d2l
from d2lutils import hub

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = os.urandom(20_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def register(monkeypatch, name, urls, sha=SHA):
    monkeypatch.setitem(hub.REGISTRY, name, hub.Entry(name, sha, tuple(urls), "test"))


def many_file_zip(n: int = 400) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"many/f{i:04d}.txt", f"file {i}\n" * 50)
    return buf.getvalue()


def test_two_processes_extracting_the_same_archive(tmp_path):
    """Both processes read a complete folder; the second waits and reuses the first one's result."""
    data = many_file_zip()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "many.zip").write_bytes(data)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from d2lutils import hub
        hub.REGISTRY["many.zip"] = hub.Entry("many.zip", {hashlib.sha256(data).hexdigest()!r}, (), "test")
        hub._BOOK_DATA_DIR = hub.Path("/nonexistent")
        out = hub.extract("many.zip")
        files = sorted((out / "many").iterdir())
        assert len(files) == 400, len(files)
        for f in files:
            f.read_text()
        print("ok")
    """)
    env = dict(os.environ, D2L_DATA_DIR=str(tmp_path / "cache"), D2L_DATA_MIRROR=str(mirror))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    leftovers = [p.name for p in (tmp_path / "cache" / "extracted").iterdir()]
    assert leftovers == ["many"]


def test_trickling_download_hits_the_overall_deadline(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/slow.bin"] = ("trickle", PAYLOAD)
    register(monkeypatch, "t/slow.bin", [f"{base}/slow.bin"])
    monkeypatch.setenv("D2L_DOWNLOAD_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(hub.DataUnavailableError, match="deadline|时限"):
        hub.fetch("t/slow.bin", progress=False)
    assert time.monotonic() - start < 20
    assert [p for p in isolated_data.rglob("*") if p.is_file() and not p.name.startswith(".d2l-probe")] == []


def test_bad_download_timeout_variable(monkeypatch):
    monkeypatch.setenv("D2L_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="D2L_DOWNLOAD_TIMEOUT"):
        hub.download_deadline()
    monkeypatch.setenv("D2L_DOWNLOAD_TIMEOUT", "")
    assert hub.download_deadline() == hub.DEFAULT_DOWNLOAD_TIMEOUT


def test_stale_temporaries_of_a_killed_process_are_removed(isolated_data, monkeypatch, tmp_path):
    mirror = tmp_path / "m"
    mirror.mkdir()
    data = many_file_zip(3)
    (mirror / "pkg.zip").write_bytes(data)
    register(monkeypatch, "pkg.zip", [], sha=hashlib.sha256(data).hexdigest())
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    extracted = isolated_data / "extracted"
    (extracted / ".pkg-dead1234").mkdir(parents=True)          # killed mid-extraction an hour ago
    (extracted / ".pkg-dead1234" / "half.txt").write_text("x")
    (extracted / ".pkg-live5678").mkdir()                       # another process, still working
    old = time.time() - 2 * hub.STALE_SECONDS
    os.utime(extracted / ".pkg-dead1234", (old, old))
    hub.extract("pkg.zip")
    names = {p.name for p in extracted.iterdir()}
    assert ".pkg-dead1234" not in names and ".pkg-live5678" in names and "pkg" in names

    register(monkeypatch, "t/x.bin", ["http://127.0.0.1:9/x.bin"])
    (isolated_data / "t").mkdir()
    dead = isolated_data / "t" / "tmpdead"
    dead.write_bytes(b"partial")
    os.utime(dead, (old, old))
    with pytest.raises(hub.DataUnavailableError):
        hub.fetch("t/x.bin", progress=False)
    assert not dead.exists()


def test_corrupt_cache_that_cannot_be_removed_falls_back_to_mirror(isolated_data, monkeypatch, tmp_path):
    register(monkeypatch, "t/f.bin", [])
    (isolated_data / "t").mkdir(parents=True)
    (isolated_data / "t" / "f.bin").write_bytes(b"corrupt")
    mirror = tmp_path / "m"
    (mirror / "t").mkdir(parents=True)
    (mirror / "t" / "f.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    real_unlink = Path.unlink

    def read_only_unlink(self, *args, **kwargs):
        if isolated_data in self.parents:
            raise PermissionError(13, "Read-only file system", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    assert hub.fetch("t/f.bin", progress=False) == mirror / "t" / "f.bin"
    monkeypatch.setenv("D2L_DATA_MIRROR", "")
    with pytest.raises(hub.DataUnavailableError, match="D2L_DATA_DIR"):
        hub.fetch("t/f.bin", progress=False)


def test_cache_path_that_is_a_file(tmp_path, monkeypatch):
    not_a_dir = tmp_path / "cache-file"
    not_a_dir.write_text("oops")
    monkeypatch.setenv("D2L_DATA_DIR", str(not_a_dir))
    monkeypatch.setenv("D2L_DATA_MIRROR", "")
    monkeypatch.setattr(hub, "_BOOK_DATA_DIR", tmp_path / "none")
    register(monkeypatch, "t/f.bin", ["http://127.0.0.1:9/f.bin"])
    with pytest.raises(hub.DataUnavailableError, match="D2L_DATA_DIR"):
        hub.fetch("t/f.bin", progress=False)


def test_tar_special_files_are_refused(isolated_data, monkeypatch, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("pkg/fifo")
        info.type = tarfile.FIFOTYPE
        tf.addfile(info)
    data = buf.getvalue()
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / "special.tar").write_bytes(data)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    register(monkeypatch, "special.tar", [], sha=hashlib.sha256(data).hexdigest())
    with pytest.raises(tarfile.TarError):
        hub.extract("special.tar")
    assert not (isolated_data / "extracted" / "special").exists()


@pytest.mark.parametrize("kwargs", [dict(test_subset=0), dict(subset=-10), dict(subset=0),
                                    dict(max_batches=0), dict(max_batches=-1), dict(resize=0),
                                    dict(resize=-3), dict(resize=32.0), dict(resize="32"),
                                    dict(batch_size=2.5)])
def test_loader_rejects_bad_arguments(kwargs):
    args = dict(batch_size=256)
    args.update(kwargs)
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name.split("_")[0]):
        d2l.load_data_fashion_mnist(**args)


def _tiny_data():
    X = torch.randn(64, 1, 8, 8)
    y = torch.randint(0, 3, (64,))
    return d2l.load_array((X, y), 16), d2l.load_array((X, y), 16, is_train=False)


def test_trainers_validate_and_stop_on_nonfinite_loss(capsys):
    train, test = _tiny_data()
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(ValueError, match="lr"):
        d2l.train_ch6(net, train, test, 2, float("nan"), "cpu", animate=False)
    with pytest.raises(ValueError, match="num_epochs"):
        d2l.train_ch6(net, train, test, 0, 0.1, "cpu", animate=False)
    with pytest.raises(ValueError, match="num_epochs"):
        d2l.train_ch3(net, train, test, nn.CrossEntropyLoss(reduction="none"), 0,
                      torch.optim.SGD(net.parameters(), lr=0.1), animate=False)
    with torch.no_grad():
        net[1].weight.fill_(float("inf"))            # as after a diverged update
    with pytest.raises(d2l.NonFiniteLossError, match="第 1 轮"):
        d2l.train_ch6(net, train, test, 2, 0.1, "cpu", init=None, animate=False)
    with pytest.raises(d2l.NonFiniteLossError, match="learning rate"):
        d2l.train_ch3(net, train, test, nn.CrossEntropyLoss(reduction="none"), 2,
                      torch.optim.SGD(net.parameters(), lr=0.1), animate=False)


def test_environment_variables(monkeypatch):
    monkeypatch.setenv("D2L_NUM_THREADS", "abc")
    with pytest.raises(ValueError, match="D2L_NUM_THREADS"):
        d2l.setup("quick")
    monkeypatch.setenv("D2L_NUM_THREADS", "-2")
    with pytest.raises(ValueError, match="D2L_NUM_THREADS"):
        d2l.setup("quick")
    monkeypatch.setenv("D2L_NUM_THREADS", "")
    monkeypatch.setenv("D2L_PROFILE", "")       # empty means unset, like the other variables
    assert d2l.resolve_profile() in ("quick", "full")
