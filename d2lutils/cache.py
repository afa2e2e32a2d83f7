"""Files and folders that the helpers build into ``cache_dir()``: built once, checked on use, rebuilt when damaged.

- ``lock(path)``: one builder at a time per cache entry (a second process waits, then reuses the result);
- ``build_folder(dest, build)``: ``build(tmp)`` fills a temporary folder, a manifest (size and sha256
  of every file) is written into it and it is renamed into place; ``folder_is_intact`` checks the
  manifest, so a truncated, missing or foreign file is noticed and the folder rebuilt;
- ``load_or_build(path, load, build, save)``: a single file (e.g. trained weights) loaded when it
  loads, otherwise discarded and rebuilt, written to a temporary file and renamed;
- ``extract_members(archive, members)``: files taken out of a zip, checked by the zip's CRC-32.

When a damaged entry cannot be removed, ``CacheDamagedError`` names it and says to delete it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Optional

from filelock import FileLock

from .checks import bilingual

MANIFEST = ".d2l-manifest.json"
# Folders up to this size are checked by sha256 on every (first) use; larger ones by file sizes only.
HASH_LIMIT_BYTES = 256 << 20


class CacheDamagedError(RuntimeError):
    """A cached file is damaged and could not be removed to rebuild it."""


def lock(path: Path) -> FileLock:
    """The lock of one cache entry: ``cache_dir()/.locks/<name>-<hash of its path>.lock`` (outside the
    entry's folder, whose listing stays as it was; the system's temporary folder if the cache has none)."""
    from .hub import cache_dir  # here: hub uses this module too
    path = Path(path).absolute()
    name = f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:12]}.lock"
    for folder in (cache_dir() / ".locks", Path(tempfile.gettempdir()) / "d2lutils-locks"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return FileLock(str(folder / name))
        except OSError:
            continue
    raise CacheDamagedError(bilingual(f"无法创建锁文件夹 {folder}：请用 D2L_DATA_DIR 指定一个可写的目录",
                                      f"cannot create the lock folder {folder}: set D2L_DATA_DIR to a writable folder"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path, extra: Optional[dict] = None) -> None:
    """Record every file of ``folder`` (size, and sha256 when the folder is small enough)."""
    files = _files(folder)
    deep = sum(p.stat().st_size for p in files) <= HASH_LIMIT_BYTES
    entries = {p.relative_to(folder).as_posix(): [p.stat().st_size, _sha256(p) if deep else None]
               for p in files}
    (folder / MANIFEST).write_text(json.dumps({"extra": extra or {}, "files": entries}))


def folder_is_intact(folder: Path, extra: Optional[dict] = None) -> bool:
    """True when ``folder`` has its manifest (with ``extra`` as recorded) and every file matches it."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
        if (extra or {}) != manifest["extra"]:
            return False
        for rel, (size, digest) in manifest["files"].items():
            path = Path(folder) / rel
            if path.stat().st_size != size or (digest is not None and _sha256(path) != digest):
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def discard(path: Path, reason: str, *, quiet: bool = False) -> None:
    """Remove a damaged cache entry (file or folder), saying so unless ``quiet``; a clear error if it
    cannot be removed."""
    path = Path(path)
    if not quiet:
        warnings.warn(bilingual(f"缓存 {path} 已损坏（{reason}），删除后重建",
                                f"the cache entry {path} is damaged ({reason}); removing and rebuilding it"),
                      stacklevel=3)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as err:
        raise CacheDamagedError(bilingual(
            f"缓存 {path} 已损坏（{reason}），且无法删除（{type(err).__name__}）：请手动删除它后重试，"
            "或用 D2L_DATA_DIR 换一个可写的缓存目录",
            f"the cache entry {path} is damaged ({reason}) and cannot be removed ({err}): delete it "
            "and retry, or set D2L_DATA_DIR to a writable folder")) from err


def build_folder(dest: Path, build: Callable[[Path], None], extra: Optional[dict] = None) -> Path:
    """``dest`` when intact; otherwise ``build(tmp)`` under the entry's lock, a manifest, and a rename."""
    dest = Path(dest)
    if folder_is_intact(dest, extra):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with lock(dest):
        if folder_is_intact(dest, extra):      # another process built it while we waited
            return dest
        if dest.exists() or dest.is_symlink():
            # no manifest: half-built, or built before manifests existed; rebuilt without a warning
            discard(dest, "文件与清单不符 / files differ from the manifest",
                    quiet=not (dest / MANIFEST).is_file())
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            build(tmp)
            write_manifest(tmp, extra)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a temporary file next to ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes the file private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_or_build(path: Path, load: Callable[[Path], object], build: Callable[[], object],
                  save: Callable[[object, Path], None]) -> tuple[object, bool]:
    """``(load(path), True)`` when the file loads; otherwise ``(build(), False)`` after saving it.

    ``load`` must raise on a damaged or foreign file; such a file is removed (with a warning) and
    rebuilt. Two processes: the second waits for the first's file and loads it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock(path):
        if path.is_file():
            try:
                return load(path), True
            except Exception as err:  # noqa: BLE001 - any failure to load means a damaged file
                discard(path, f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}")
        elif path.exists():
            discard(path, "不是文件 / not a file")
        value = build()
        atomic_write(path, lambda tmp: save(value, tmp))
        return value, False


def _member_ok(path: Path, info: zipfile.ZipInfo) -> bool:
    try:
        if path.stat().st_size != info.file_size:
            return False
        crc = 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                crc = zlib.crc32(chunk, crc)
        return crc == info.CRC
    except OSError:
        return False


def extract_members(archive: Path, members: dict[str, Path]) -> None:
    """Take ``members`` (zip name -> output path) out of ``archive``; an output whose size or CRC-32
    differs from the zip's is replaced. Each output is written to a temporary file and renamed."""
    with zipfile.ZipFile(archive) as zf:
        infos = {name: zf.getinfo(name) for name in members}
        if all(_member_ok(Path(out), infos[name]) for name, out in members.items()):
            return
        first = Path(next(iter(members.values())))
        first.parent.mkdir(parents=True, exist_ok=True)
        with lock(first):
            for name, out in members.items():
                out = Path(out)
                if _member_ok(out, infos[name]):
                    continue
                if out.exists():
                    discard(out, "大小或 CRC 与压缩包不符 / size or CRC differs from the archive")
                atomic_write(out, lambda tmp: tmp.write_bytes(zf.read(name)))
