"""The Debian packages the PDF build needs, how to tell each is there, and installing them as root.

Only ``texlive-*`` packages that the build really loads (see ../shared/PDF.md): no texlive-full,
no texlive-fonts-extra (1.4 GB). About 600 MB and two minutes with apt-get --no-install-recommends.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

# package -> how to tell it is installed: ("cmd", name) on PATH, ("tex", file) found by kpsewhich,
# ("font", family) known to fontconfig
PACKAGES: dict[str, tuple[str, str]] = {
    "texlive-xetex": ("cmd", "xelatex"),
    "latexmk": ("cmd", "latexmk"),
    "texlive-lang-chinese": ("tex", "ctex.sty"),
    "texlive-latex-extra": ("tex", "tabulary.sty"),
    "texlive-fonts-recommended": ("tex", "ptmr7t.tfm"),
    "texlive-plain-generic": ("tex", "ulem.sty"),
    "fonts-noto-cjk": ("font", "Noto Serif CJK SC"),
    "fonts-dejavu-core": ("font", "DejaVu Sans Mono"),
    "poppler-utils": ("cmd", "pdffonts"),  # the build's own checks and the tests read the PDF with it
}


def _present(kind: str, what: str) -> bool:
    if kind == "cmd":
        return shutil.which(what) is not None
    if kind == "tex":
        if shutil.which("kpsewhich") is None:
            return False
        out = subprocess.run(["kpsewhich", what], capture_output=True, text=True)
        return bool(out.stdout.strip())
    out = subprocess.run(["fc-list", what], capture_output=True, text=True) if shutil.which("fc-list") else None
    return bool(out and out.stdout.strip())


def missing() -> list[str]:
    """The Debian packages of ``PACKAGES`` that are not installed (by what they provide)."""
    return [pkg for pkg, (kind, what) in PACKAGES.items() if not _present(kind, what)]


def install_command(packages: list[str]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def ensure(install: bool = True) -> float:
    """Make sure the packages are there. As root with apt-get (and ``install``), installs the missing
    ones and returns the seconds it took; otherwise raises SystemExit naming them."""
    need = missing()
    if not need:
        return 0.0
    can = install and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can:
        raise SystemExit("生成 PDF 需要这些 Debian 软件包，请先安装 (the PDF build needs these Debian packages): "
                         + " ".join(need) + f"\n  sudo {install_command(need)}")
    print(f"安装 PDF 所需的软件包 (installing TeX packages for the PDF, ~600 MB, a few minutes): {' '.join(need)}",
          flush=True)
    start = time.perf_counter()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"安装失败 (apt-get install failed):\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    seconds = time.perf_counter() - start
    still = missing()
    if still:
        raise SystemExit("安装之后仍然缺少 (still missing after installing): " + " ".join(still))
    print(f"  已安装 (installed) in {seconds:.0f} s", flush=True)
    return seconds
