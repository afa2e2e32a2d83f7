"""Dataset files: local mirrors first, then downloads with pooch; every file checked by sha256.

Sources, in order:
1. the cache (``$D2L_DATA_DIR``, default ``~/.cache/d2lutils``), if the file there has the right hash;
2. local mirror folders, read in place: the book's own ``data/`` folder (in a clone) and every folder
   in ``$D2L_DATA_MIRROR`` (separated by ``os.pathsep``);
3. downloads into the cache: the upstream URLs, then the book's repository as a mirror.
A download goes to a temporary file and is moved into place only after its hash matched,
so a truncated or corrupt file is never left in the cache.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Optional

import warnings

with warnings.catch_warnings():
    # pooch imports tqdm.auto, which warns in a Jupyter kernel without ipywidgets.
    warnings.simplefilter("ignore")
    import pooch

from filelock import FileLock

from . import cache
from .registry import REGISTRY_ENTRIES

# The book's repository; its data/ folder is the last download mirror.
BOOK_REPO_RAW = "https://raw.githubusercontent.com/d2l-zh-exec/d2l-zh-exec/main/data"
_BOOK_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
_DONE_MARKER = ".d2l-extracted"
# A temporary download or extraction folder untouched for this long was left by a killed process.
STALE_SECONDS = 3600
DEFAULT_DOWNLOAD_TIMEOUT = 900.0



@dataclass(frozen=True)
class Entry:
    name: str
    sha256: str
    urls: tuple[str, ...]
    licence: str


REGISTRY: dict[str, Entry] = {
    name: Entry(name, sha, urls + (f"{BOOK_REPO_RAW}/{name}",), lic)
    for name, (sha, urls, lic) in REGISTRY_ENTRIES.items()
}


class DataUnavailableError(RuntimeError):
    """No source could provide a valid copy of a dataset file."""


def cache_dir() -> Path:
    """Where downloaded and extracted files live (``$D2L_DATA_DIR``)."""
    env = os.environ.get("D2L_DATA_DIR")
    return Path(env).expanduser() if env else Path(pooch.os_cache("d2lutils"))


def local_mirrors() -> list[Path]:
    """Folders that may hold the files already: the book's ``data/`` and ``$D2L_DATA_MIRROR``."""
    dirs = [Path(p).expanduser() for p in os.environ.get("D2L_DATA_MIRROR", "").split(os.pathsep) if p]
    if _BOOK_DATA_DIR.is_dir():
        dirs.insert(0, _BOOK_DATA_DIR)
    return dirs


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return pooch.file_hash(path, alg="sha256")


def _has_hash(path: Path, sha256: str) -> bool:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns) == sha256


def retrieve(url: str, known_hash: str, fname: str, *, path: Optional[Path] = None, timeout: float = 30.0,
             downloader=None) -> Path:
    """``pooch.retrieve`` into the cache (or ``path``) without pooch's INFO lines, which would land on
    stderr in a notebook. Raises what pooch raises (no network, wrong hash, …)."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, fname=fname, path=path or cache_dir(),
                                   progressbar=False,
                                   downloader=downloader or pooch.HTTPDownloader(progressbar=False,
                                                                                 timeout=timeout)))
    finally:
        logger.setLevel(level)


def download_deadline() -> float:
    """Overall seconds allowed for one file's download: ``$D2L_DOWNLOAD_TIMEOUT`` (default 900)."""
    raw = os.environ.get("D2L_DOWNLOAD_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_DOWNLOAD_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"环境变量 D2L_DOWNLOAD_TIMEOUT={raw!r} 必须是正数（秒）"
                         f"（D2L_DOWNLOAD_TIMEOUT must be a positive number of seconds, got {raw!r}）")
    return value


class _DeadlineDownloader:
    """Stream a URL into a file, giving up after ``deadline`` seconds in all (not per read).

    A trickling server defeats a per-read timeout; here a watchdog shuts the socket down when the
    deadline passes, so the blocked read fails and the partial temporary file is discarded by pooch.
    """

    def __init__(self, read_timeout: float, deadline: float) -> None:
        self.read_timeout, self.deadline = read_timeout, deadline

    def __call__(self, url: str, output_file, pooch_obj=None) -> None:
        import requests
        expired = threading.Event()
        with requests.get(url, stream=True, timeout=self.read_timeout) as response:
            response.raise_for_status()

            def stop() -> None:
                # Shut the socket down (closing it here would block on the reader's buffer lock):
                # the blocked read in the main thread then returns at once.
                expired.set()
                import socket
                fp = getattr(getattr(response.raw, "_fp", None), "fp", None)
                sock = getattr(getattr(fp, "raw", None), "_sock", None) or getattr(
                    getattr(response.raw, "_connection", None), "sock", None)
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            watchdog = threading.Timer(self.deadline, stop)
            watchdog.daemon = True
            watchdog.start()
            try:
                with open(output_file, "wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        if expired.is_set():
                            break
                        out.write(chunk)
            except Exception:
                if not expired.is_set():
                    raise
            finally:
                watchdog.cancel()
        if expired.is_set():
            raise TimeoutError(f"下载超过了总时限 {self.deadline:g} 秒，可用 D2L_DOWNLOAD_TIMEOUT 调整"
                               f"（download exceeded the overall deadline of {self.deadline:g} s）")


def _remove_stale(folder: Path, pattern: str) -> None:
    """Delete temporaries matching ``pattern`` that nobody has touched for ``STALE_SECONDS``."""
    now = time.time()
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return
    for path in candidates:
        try:
            if now - path.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        except OSError:
            pass


def fetch(name: str, *, progress: Optional[bool] = None, timeout: float = 30.0) -> Path:
    """Return a local path to the dataset file ``name`` (a key of ``REGISTRY``), with a verified sha256."""
    if name not in REGISTRY:
        raise KeyError(f"未登记的数据文件 {name!r}（unknown dataset file）。已登记：{', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[name]
    tried: list[str] = []

    cached = cache_dir() / name
    cache_usable = True
    try:
        if cached.is_file():
            if _has_hash(cached, entry.sha256):
                return cached
            try:
                cached.unlink()  # never keep a file that fails its check
                tried.append(f"{cached}: 校验和不符，已删除 (sha256 mismatch, removed)")
            except OSError as err:
                cache_usable = False
                tried.append(f"{cached}: 校验和不符，且无法删除（{type(err).__name__}）；"
                             f"请删除它或用 D2L_DATA_DIR 换一个可写的缓存目录 (corrupt and cannot be removed)")
    except OSError as err:
        cache_usable = False
        tried.append(f"{cached}: 缓存不可读（{type(err).__name__}: {err}）(cache not readable)")

    for folder in local_mirrors():
        path = folder / name
        if not path.is_file():
            tried.append(f"{path}: 不存在 (not found)")
        elif _has_hash(path, entry.sha256):
            return path
        else:
            tried.append(f"{path}: 校验和不符，已跳过 (sha256 mismatch, skipped)")

    if cache_usable:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=cached.parent, prefix=".d2l-probe-")
            probe.close()
        except OSError as err:
            cache_usable = False
            tried.append(f"{cached.parent}: 缓存目录无法写入（{type(err).__name__}: {err}）；"
                         f"请用 D2L_DATA_DIR 指定一个可写的目录 (cache folder not writable: set D2L_DATA_DIR)")
    if cache_usable:
        _remove_stale(cached.parent, "tmp*")  # downloads of a killed process
        deadline = download_deadline()
        for url in entry.urls:
            try:
                return retrieve(url, f"sha256:{entry.sha256}", cached.name, path=cached.parent,
                                downloader=_DeadlineDownloader(timeout, deadline))
            except Exception as err:  # noqa: BLE001 - every failure is reported below
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                tried.append(f"{url}: {type(err).__name__}: {reason[:200]}")

    lines = "\n  - ".join(tried)
    raise DataUnavailableError(
        f"无法获得数据文件 {name}（sha256 {entry.sha256[:12]}…）。\n"
        f"Could not get dataset file {name}. Sources tried:\n  - {lines}\n"
        f"怎么办 / what to do: 联网后重试；或把原始文件放到 {cached}，"
        f"或放进某个目录并设置 D2L_DATA_MIRROR=<该目录>（目录内路径为 {name}）。"
        f" Retry with network access, or put the original file at {cached}, or in a folder "
        f"named by D2L_DATA_MIRROR (as <folder>/{name}).")


def _check_member(member: str) -> None:
    p = PurePosixPath(member.replace("\\", "/"))
    if p.is_absolute() or member.startswith(("/", "\\")) or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise ValueError(f"拒绝解压不安全的路径 {member!r}（unsafe archive member: absolute or '..'）")


def extract(name: str) -> Path:
    """Unpack the archive ``name`` (zip or tar) once into the cache and return the folder.

    Members with absolute paths or ``..`` are rejected before anything is written. The
    archive is unpacked into a temporary folder that is renamed into place only when complete.
    """
    archive = fetch(name)
    entry = REGISTRY[name]
    base = PurePosixPath(name).name
    for suffix in (".zip", ".tar.gz", ".tgz", ".tar"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    dest = cache_dir() / "extracted" / base
    # the marker of a complete extraction is a manifest of every file (size, sha256): a damaged
    # file in the folder is noticed and the archive extracted again
    if cache.folder_is_intact(dest, {"sha256": entry.sha256}):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One extraction per archive at a time: a second process waits and then reuses the result,
    # so a folder that someone already returned is never deleted under their feet.
    locks = cache_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"extract-{base}.lock")):
        if cache.folder_is_intact(dest, {"sha256": entry.sha256}):
            return dest
        _remove_stale(dest.parent, f".{base}-*")  # half-extracted folders of a killed process
        _extract_into(archive, dest, entry.sha256, base)
    return dest


def _extract_into(archive: Path, dest: Path, sha256: str, base: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{base}-", dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for info in tf.getmembers():
                    _check_member(info.name)
                    if info.issym() or info.islnk():
                        raise ValueError(f"拒绝解压链接 {info.name!r}（links are not extracted）")
                # the "data" filter also refuses devices, FIFOs and setuid/setgid bits
                tf.extractall(tmp, filter="data")
        else:
            raise ValueError(f"{archive} 不是 zip 或 tar 文件（not a zip or tar archive）")
        (tmp / _DONE_MARKER).write_text(sha256)
        cache.write_manifest(tmp, {"sha256": sha256})
        if dest.exists():  # an incomplete folder (no marker): we hold the lock, nobody is reading it
            shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
