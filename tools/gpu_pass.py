#!/usr/bin/env python3
"""The book's GPU pass: benchmarks first, then full-profile recordings of the sections that gain most
from a GPU, all inside one time budget (a lent GPU is short-lived).

    python tools/gpu_pass.py --budget 540 --out DIR [--profile full] [--no-bench] [SECTION ...]

Everything lands in ``--out`` as soon as it exists, so a pass cut short still returns what it
finished: ``gpu-pass.log`` (what ran, how long, ok or why not), ``bench.log`` (the benchmark tables)
and ``recordings.tar`` (every notebook recorded so far, paths relative to the repository root;
rewritten atomically after each section; notebooks of failed runs under ``failed/`` for diagnosis).
A section is started only when at least ``--min-section`` seconds remain, and is stopped at the
deadline. Unpack the archive in the repository root and commit the notebooks it holds.

``tools/gpu-pass.sh`` wraps this for the device machine (offline wheels, CJK font).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Sections in the order a GPU helps them most: 224 px CNNs and 256 px SSD take hours on a laptop CPU;
# the RNN/seq2seq full settings run on a CPU in minutes and come last.
PRIORITY = [
    "chapters/modern-cnn/resnet.md",
    "chapters/modern-cnn/alexnet.md",
    "chapters/modern-cnn/vgg.md",
    "chapters/modern-cnn/googlenet.md",
    "chapters/modern-cnn/nin.md",
    "chapters/computer-vision/ssd.md",
    "chapters/computer-vision/fcn.md",
    "chapters/computer-vision/image-augmentation.md",
    "chapters/computer-vision/neural-style.md",
    "chapters/attention/transformer.md",
    "chapters/nlp-pretraining/bert-pretraining.md",
    "chapters/recurrent-networks/rnn-concise.md",
    "chapters/modern-rnn/seq2seq.md",
]

BENCHMARKS = [  # (arguments to benchmarks/bench.py, seconds it may take at most)
    (["--only", "input,lenet"], 150),          # lecture settings: 10 epochs, all 60000/10000 images
    (["--only", "resnet", "--epochs", "2"], 150),  # 96 px; 2 epochs keep the plain way's time sane
    # where LeNet's 2.7 ms per step goes: autocast off, fused/foreach SGD, torch.compile (CUDA graphs)
    (["--only", "variants", "--epochs", "3"], 150),
]


class Pass:
    def __init__(self, out: Path, budget: float):
        self.out = out
        self.deadline = time.monotonic() + budget
        self.recorded: list[Path] = []
        self.failed: list[Path] = []
        out.mkdir(parents=True, exist_ok=True)
        self.log_path = out / "gpu-pass.log"
        self.log_path.write_text("", encoding="utf-8")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, line: str) -> None:
        print(line, flush=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def run(self, cmd: list[str], limit: float, log_to: Path | None = None) -> tuple[str, float, str]:
        """Run ``cmd`` for at most ``limit`` seconds. Returns (status, seconds, output tail)."""
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(1.0, limit))
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as err:
            status = f"timeout {limit:.0f} s"
            output = _text(err.stdout) + _text(err.stderr)
        seconds = time.monotonic() - start
        if log_to is not None:
            with log_to.open("a", encoding="utf-8") as f:
                f.write(f"$ {' '.join(cmd)}\n{output}\n[{status}, {seconds:.1f} s]\n\n")
        return status, seconds, output[-3000:]

    def pack(self) -> None:
        """Write recordings.tar with every notebook recorded so far (atomic: tmp file, then rename)."""
        tmp = self.out / ".recordings.tar.tmp"
        with tarfile.open(tmp, "w") as tar:
            for nb in self.recorded:
                tar.add(nb, arcname=str(nb.relative_to(ROOT)))
            for nb in self.failed:
                tar.add(nb, arcname=f"failed/{nb.name}")
        os.replace(tmp, self.out / "recordings.tar")


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def device_facts() -> str:
    code = ("import torch, platform; c = torch.cuda.is_available(); "
            "print('torch', torch.__version__, '| python', platform.python_version(), '| cuda', c, "
            "'|', torch.cuda.get_device_name(0) if c else 'cpu', '| cpus', __import__('os').cpu_count())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return (proc.stdout + proc.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sections", nargs="*", help=f"default: {len(PRIORITY)} sections, GPU-hungriest first")
    p.add_argument("--budget", type=float, required=True, help="seconds for the whole pass")
    p.add_argument("--out", type=Path, required=True, help="folder for logs and recordings.tar")
    p.add_argument("--profile", default="full", choices=["full", "quick"])
    p.add_argument("--no-bench", action="store_true", help="skip benchmarks/bench.py")
    p.add_argument("--min-section", type=float, default=60.0,
                   help="do not start a section with fewer seconds left (default 60)")
    args = p.parse_args(argv)
    if args.budget <= 0:
        p.error("--budget 必须为正数 (must be positive seconds)")

    gp = Pass(args.out, args.budget)
    gp.log(f"GPU pass: budget {args.budget:.0f} s, profile {args.profile} — {device_facts()}")
    if not args.no_bench:
        bench_log = args.out / "bench.log"
        for bench_args, cap in BENCHMARKS:
            limit = min(cap, gp.left() - args.min_section)
            if limit < 20:
                gp.log(f"  skip bench {' '.join(bench_args)}: {gp.left():.0f} s left")
                continue
            status, secs, _ = gp.run([sys.executable, "benchmarks/bench.py", *bench_args], limit, bench_log)
            gp.log(f"  bench {' '.join(bench_args)}: {status}, {secs:.1f} s")

    sections = args.sections or PRIORITY
    env_keep = Path(tempfile.mkdtemp(prefix="gpu-pass-failed-"))  # not in --out: few files may come back
    os.environ["D2L_KEEP_FAILED"] = str(env_keep)
    for sec in sections:
        md = (ROOT / sec).resolve()
        if not md.is_file():
            gp.log(f"  ✗ {sec}: 文件不存在 (no such section)")
            continue
        left = gp.left()
        if left < args.min_section:
            gp.log(f"  skip {sec}: {left:.0f} s left (< {args.min_section:.0f})")
            continue
        cmd = [sys.executable, "tools/book.py", "run", "--profile", args.profile, "--force", sec]
        status, secs, tail = gp.run(cmd, left - 5, args.out / "sections.log")
        if status == "ok" and not md.with_suffix(".ipynb").is_file():
            status = "ok, but no notebook was written"
        if status == "ok":
            gp.recorded.append(md.with_suffix(".ipynb"))
            gp.log(f"  ✓ {sec}: {secs:.1f} s")
        else:
            gp.log(f"  ✗ {sec}: {status}, {secs:.1f} s\n" + "\n".join("    " + s for s in tail.splitlines()[-12:]))
        gp.failed = sorted(env_keep.glob("*.ipynb")) if env_keep.is_dir() else []
        gp.pack()
    gp.pack()
    gp.log(f"done: {len(gp.recorded)} recorded, {len(gp.failed)} failed notebooks kept, "
           f"{max(0.0, gp.left()):.0f} s of the budget left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
