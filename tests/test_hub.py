"""The data layer: local mirrors, downloads from 127.0.0.1, hash checks, safe extraction."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from d2lutils import hub
from archives import zip_bytes

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = os.urandom(50_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def register(monkeypatch, name, urls, sha=SHA):
    monkeypatch.setitem(hub.REGISTRY, name, hub.Entry(name, sha, tuple(urls), "test"))


def leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()]


def test_download_good_file(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/f.bin"] = ("ok", PAYLOAD)
    register(monkeypatch, "t/f.bin", [f"{base}/f.bin"])
    path = hub.fetch("t/f.bin", progress=False)
    assert path == isolated_data / "t" / "f.bin"
    assert path.read_bytes() == PAYLOAD
    routes.clear()  # a second call uses the cache, no network
    assert hub.fetch("t/f.bin", progress=False).read_bytes() == PAYLOAD


def test_wrong_hash_is_rejected_and_next_source_used(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/bad"] = ("ok", b"not the data" * 100)
    routes["/good"] = ("ok", PAYLOAD)
    register(monkeypatch, "t/f.bin", [f"{base}/bad", f"{base}/good"])
    assert hub.fetch("t/f.bin", progress=False).read_bytes() == PAYLOAD
    assert leftovers(isolated_data) == [isolated_data / "t" / "f.bin"]


def test_truncated_download_leaves_nothing(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/cut"] = ("truncated", PAYLOAD[:20_000])
    register(monkeypatch, "t/f.bin", [f"{base}/cut"])
    with pytest.raises(hub.DataUnavailableError):
        hub.fetch("t/f.bin", progress=False)
    assert leftovers(isolated_data) == []


def test_unreachable_host_then_mirror(http_server, closed_port_url, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/f.bin"] = ("ok", PAYLOAD)
    register(monkeypatch, "t/f.bin", [f"{closed_port_url}/f.bin", f"{base}/f.bin"])
    assert hub.fetch("t/f.bin", progress=False, timeout=5).read_bytes() == PAYLOAD


def test_all_sources_fail_gives_one_clear_error(http_server, closed_port_url, isolated_data,
                                                 monkeypatch, tmp_path):
    base, routes = http_server
    routes["/bad"] = ("ok", b"wrong")
    mirror = tmp_path / "mirror"
    (mirror / "t").mkdir(parents=True)
    (mirror / "t" / "f.bin").write_bytes(b"also wrong")
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    register(monkeypatch, "t/f.bin", [f"{closed_port_url}/f.bin", f"{base}/bad", f"{base}/missing"])
    with pytest.raises(hub.DataUnavailableError) as info:
        hub.fetch("t/f.bin", progress=False, timeout=5)
    msg = str(info.value)
    assert "t/f.bin" in msg and "D2L_DATA_MIRROR" in msg
    for source in (str(mirror / "t" / "f.bin"), f"{closed_port_url}/f.bin", f"{base}/bad", f"{base}/missing"):
        assert source in msg
    assert leftovers(isolated_data) == []


def test_corrupt_cache_file_is_replaced(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    routes["/f.bin"] = ("ok", PAYLOAD)
    register(monkeypatch, "t/f.bin", [f"{base}/f.bin"])
    (isolated_data / "t").mkdir(parents=True)
    (isolated_data / "t" / "f.bin").write_bytes(PAYLOAD[:100])  # e.g. an interrupted copy
    assert hub.fetch("t/f.bin", progress=False).read_bytes() == PAYLOAD


def test_local_mirror_is_read_in_place(isolated_data, monkeypatch, tmp_path):
    mirror = tmp_path / "m"
    (mirror / "t").mkdir(parents=True)
    (mirror / "t" / "f.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("D2L_DATA_MIRROR", os.pathsep.join([str(tmp_path / "nothing"), str(mirror)]))
    register(monkeypatch, "t/f.bin", [])
    assert hub.fetch("t/f.bin") == mirror / "t" / "f.bin"
    assert leftovers(isolated_data) == []


def test_unknown_name():
    with pytest.raises(KeyError, match="未登记"):
        hub.fetch("no/such/file.bin")


def test_two_processes_fetch_the_same_file(http_server, isolated_data, monkeypatch):
    base, routes = http_server
    big = os.urandom(400_000)
    routes["/big"] = ("slow", big)
    sha = hashlib.sha256(big).hexdigest()
    code = (
        "import sys; from d2lutils import hub\n"
        f"hub.REGISTRY['t/big'] = hub.Entry('t/big', {sha!r}, ({base + '/big'!r},), 'test')\n"
        "print(hub.fetch('t/big', progress=False))\n")
    env = dict(os.environ, D2L_DATA_DIR=str(isolated_data), D2L_DATA_MIRROR="")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT / "tests",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    target = isolated_data / "t" / "big"
    assert target.read_bytes() == big
    assert leftovers(isolated_data) == [target]


def test_extract_zip_once(isolated_data, monkeypatch, tmp_path):
    data = zip_bytes({"pkg/a.txt": b"hello", "pkg/sub/b.txt": b"world"})
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / "pkg.zip").write_bytes(data)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    register(monkeypatch, "pkg.zip", [], sha=hashlib.sha256(data).hexdigest())
    out = hub.extract("pkg.zip")
    assert (out / "pkg" / "a.txt").read_text() == "hello"
    assert (out / "pkg" / "sub" / "b.txt").read_text() == "world"
    assert hub.extract("pkg.zip") == out


@pytest.mark.parametrize("evil", ["../evil.txt", "/abs/evil.txt", "ok/../../evil.txt"])
def test_extract_rejects_zip_slip(isolated_data, monkeypatch, tmp_path, evil):
    data = zip_bytes({"fine.txt": b"x", evil: b"pwned"})
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / "evil.zip").write_bytes(data)
    monkeypatch.setenv("D2L_DATA_MIRROR", str(mirror))
    register(monkeypatch, "evil.zip", [], sha=hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError, match="unsafe"):
        hub.extract("evil.zip")
    assert not (tmp_path / "evil.txt").exists()
    extracted = isolated_data / "extracted"
    assert not extracted.exists() or list(extracted.iterdir()) == []


def test_registry_matches_committed_data():
    """Every registered file is in the repository's data/ with the registered sha256."""
    for name, entry in hub.REGISTRY.items():
        path = ROOT / "data" / name
        assert path.is_file(), f"data/{name} missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, name
        assert entry.urls[-1].endswith("/data/" + name)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "x"))
    assert hub.cache_dir() == tmp_path / "x"


def test_registry_is_the_manifest_checked():
    """registry.tsv (the only source, shipped as package data) agrees with data/MANIFEST.tsv."""
    import csv
    with open(ROOT / "data" / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        manifest = {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}
    assert set(hub.REGISTRY) == set(manifest)
    for name, entry in hub.REGISTRY.items():
        assert entry.sha256 == manifest[name]["sha256"], name
        assert entry.licence == manifest[name]["licence"], name


def test_registry_file_errors_are_clear():
    from d2lutils.registry import read_registry
    good = "# c\nname\tsha256\turls\tlicence\nx.txt\t" + "a" * 64 + "\thttp://a http://b\tMIT\n"
    assert read_registry(good) == {"x.txt": ("a" * 64, ("http://a", "http://b"), "MIT")}
    with pytest.raises(ValueError, match="row 2"):
        read_registry("name\tsha256\turls\tlicence\nx.txt\tshort\t\tMIT\n")
    with pytest.raises(ValueError, match="header"):
        read_registry("path\tsha\n")


def test_registry_ships_with_the_package():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'd2lutils = ["registry.tsv"]' in text


def test_retrieve_keeps_pooch_quiet_and_restores_its_logger(monkeypatch, tmp_path, capfd):
    import pooch
    logger = pooch.get_logger()
    before = logger.level

    def fake_retrieve(url, **kw):
        logger.info("Downloading data from %s", url)  # what pooch prints on every download
        (tmp_path / kw["fname"]).write_text("x")
        return str(tmp_path / kw["fname"])
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    got = hub.retrieve("http://example.invalid/a.zip", "sha1:0", "a.zip", path=tmp_path)
    assert got == tmp_path / "a.zip"
    assert "Downloading" not in capfd.readouterr().err
    assert logger.level == before
