#!/usr/bin/env python3
"""Side-by-side benchmarks: the plain PyTorch/torchvision way vs d2lutils, in one process.

    python benchmarks/bench.py                      # all three on the best device, lecture settings
    python benchmarks/bench.py --only input         # 1. one epoch of input batches (CPU)
    python benchmarks/bench.py --only lenet --epochs 2 --subset 20000   # shrink for a CPU
    python benchmarks/bench.py --only load --load python   # 4. LeNet idle vs loaded, interleaved
    python benchmarks/bench.py --only layout --device cpu  # 5. NCHW vs channels_last training steps
    python benchmarks/bench.py --only variants             # 6. LeNet step variants (fused SGD, compile, …)

Plain way: torchvision FashionMNIST + ToTensor (+ Resize) + DataLoader(num_workers=4), fp32, a
training loop that calls .item() every batch. d2lutils: the whole dataset as uint8 on the device,
per-batch float conversion / F.interpolate there, running metrics on the device (train_ch6),
bf16 autocast and channels_last on CUDA. Prints a table with times, accuracies and ratios.
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import d2lutils as d2l  # noqa: E402
from d2lutils.cpu import DEFAULT_THREADS  # noqa: E402


def torchvision_root() -> str:
    """A folder laid out for torchvision (FashionMNIST/raw/*.gz), filled from the book's data layer."""
    root = Path(tempfile.mkdtemp(prefix="bench-tv-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            shutil.copy(d2l.fetch(f"FashionMNIST/raw/{name}"), raw / name)
    return str(root)


def plain_loaders(root, batch_size, resize=None, subset=None, workers=4, test_subset=None):
    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    train = torchvision.datasets.FashionMNIST(root, train=True, transform=trans, download=True)
    test = torchvision.datasets.FashionMNIST(root, train=False, transform=trans, download=True)
    if subset:
        train = Subset(train, range(subset))
    if test_subset:
        test = Subset(test, range(test_subset))
    kw = dict(num_workers=workers, persistent_workers=False)
    return (DataLoader(train, batch_size, shuffle=True, **kw), DataLoader(test, batch_size, shuffle=False, **kw))


def plain_train(net, train_iter, test_iter, epochs, lr, device):
    """The common tutorial loop: fp32, .item() per batch, evaluation via the DataLoader."""
    def init(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    net.apply(init)
    net.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        net.train()
        total, correct, loss_sum = 0, 0, 0.0
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            opt.zero_grad()
            y_hat = net(X)
            l = loss_fn(y_hat, y)
            l.backward()
            opt.step()
            loss_sum += l.item() * len(y)
            correct += (y_hat.argmax(1) == y).sum().item()
            total += len(y)
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in test_iter:
            X, y = X.to(device), y.to(device)
            correct += (net(X).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


class Residual(nn.Module):
    def __init__(self, cin, cout, use_1x1=False, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride=stride) if use_1x1 else None
        self.bn1, self.bn2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)

    def forward(self, X):
        Y = torch.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        return torch.relu(Y + (self.conv3(X) if self.conv3 else X))


def resnet18():
    def stage(cin, cout, n, first=False):
        return [Residual(cin, cout, use_1x1=True, stride=2) if i == 0 and not first else Residual(cout, cout)
                for i in range(n)]
    return nn.Sequential(
        nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        nn.Sequential(*stage(64, 64, 2, first=True)), nn.Sequential(*stage(64, 128, 2)),
        nn.Sequential(*stage(128, 256, 2)), nn.Sequential(*stage(256, 512, 2)),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 10))


BUSY_CODE = {
    # a plain Python busy loop: a browser tab, a linter, another program
    "python": "while True: pass",
    # a second notebook training a small model with torch's default threads
    "torch": ("import torch\nx = torch.randn(256, 1, 28, 28)\nw = torch.randn(6, 1, 5, 5)\n"
              "while True:\n    torch.nn.functional.conv2d(x, w, padding=2).sigmoid_().sum()"),
}


def start_load(kind: str):
    """Start one busy process beside the benchmark (None for an idle machine)."""
    if kind == "none":
        return None
    import subprocess
    proc = subprocess.Popen([sys.executable, "-c", BUSY_CODE[kind]])
    time.sleep(1.0)  # let it get going
    return proc


def d2l_threads(args) -> int:
    """Threads for the d2lutils way: what d2l.setup() would choose here and now (or --threads)."""
    if args.threads != "auto":
        return int(args.threads)
    from d2lutils.cpu import choose_threads
    return choose_threads()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def bench_input(root, args, rows):
    """1. One epoch of input batches (no model): decode + convert + batch."""
    plain_train_iter, _ = plain_loaders(root, 256, workers=args.workers)
    torch.set_num_threads(DEFAULT_THREADS)
    epochs = 3  # median of 3 epochs each: one 0.06 s epoch alone is at the mercy of the VM's timer noise
    plain = [timed(lambda: sum(len(y) for _, y in plain_train_iter)) for _ in range(epochs)]
    torch.set_num_threads(d2l_threads(args))
    cpu = torch.device("cpu")
    t_load, (ours_iter, _) = timed(lambda: d2l.load_data_fashion_mnist(256, device=cpu))
    ours = [timed(lambda: sum(len(y) for _, y in ours_iter)) for _ in range(epochs)]
    assert all(n == 60000 for _, n in plain + ours)
    rows.append((f"1. 一轮输入批次 (cpu, batch 256, {epochs} 轮的中位数)", statistics.median(t for t, _ in plain),
                 statistics.median(t for t, _ in ours), "", "",
                 f"首次读入 {t_load:.2f} s 不计入; d2lutils {torch.get_num_threads()} 线程"))


def bench_model(name, build, resize, lr, batch, root, args, rows, device):
    epochs = args.epochs or 10
    subset = args.subset
    d2l.seed_everything(0)
    tr, te = plain_loaders(root, batch, resize=resize, subset=subset, workers=args.workers,
                           test_subset=args.test_subset)
    torch.set_num_threads(DEFAULT_THREADS)
    t_plain, acc_plain = timed(lambda: plain_train(build(), tr, te, epochs, lr, device))
    torch.set_num_threads(d2l_threads(args))
    d2l.seed_everything(0)
    cuda = device.type == "cuda"

    def ours():
        tr2, te2 = d2l.load_data_fashion_mnist(batch, resize=resize, device=device, subset=subset,
                                              test_subset=args.test_subset, test_batch_size=1024)
        return d2l.train_ch6(build(), tr2, te2, epochs, lr, device, amp=cuda, channels_last=True if cuda else None,
                             animate=False).test_acc[-1]
    t_ours, acc_ours = timed(ours)
    what = (f"{name} ({device}, {epochs} 轮, 训练 {subset or 60000} 张, 测试 {args.test_subset or 10000} 张, "
            f"{resize or 28}px)")
    rows.append((what, t_plain, t_ours, acc_plain, acc_ours,
                 ("bf16+channels_last" if cuda else "fp32, channels_last (train_ch6 的 CPU 默认)") + f"; d2lutils {torch.get_num_threads()} 线程"))


def lenet_pass(train_iter, test_iter, device, channels_last=None) -> float:
    """Seconds for one LeNet epoch on ``train_iter`` + evaluation on ``test_iter`` (train_ch6, silent)."""
    d2l.seed_everything(0)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        d2l.train_ch6(lenet(), train_iter, test_iter, 1, 0.9, device, animate=False, channels_last=channels_last)
    return time.perf_counter() - start


def bench_load_interleaved(busy, args):
    """4. LeNet idle vs loaded in one process: the busy process is paused (SIGSTOP) and resumed (SIGCONT)
    in turn, so both states see the same machine minutes apart; medians over ``--rounds`` pairs.
    Also times 1 thread with the machine idle: the best one free core can do (the bound under load)."""
    cpu = torch.device("cpu")
    tr, te = d2l.load_data_fashion_mnist(256, device=cpu, subset=args.subset or 10000,
                                         test_subset=args.test_subset or 2000, test_batch_size=1024)
    times = {"idle": [], "idle-1": [], "load": []}
    threads = {"idle": set(), "load": set()}
    for r in range(args.rounds):
        for state in (("idle", "load") if r % 2 == 0 else ("load", "idle")):
            os.kill(busy.pid, signal.SIGSTOP if state == "idle" else signal.SIGCONT)
            time.sleep(0.3)
            n = d2l_threads(args)
            threads[state].add(n)
            torch.set_num_threads(n)
            times[state].append(lenet_pass(tr, te, cpu))
            if state == "idle":
                torch.set_num_threads(1)
                times["idle-1"].append(lenet_pass(tr, te, cpu))
    os.kill(busy.pid, signal.SIGCONT)
    med = {k: statistics.median(v) for k, v in times.items()}
    pairs = " ".join(f"{a / b:.2f}" for a, b in zip(times["load"], times["idle"]))
    n_train, n_test = args.subset or 10000, args.test_subset or 2000
    print(f"\n4. LeNet 一遍 (训练 {n_train} 张 + 评估 {n_test} 张, cpu), 空闲与负载交替 {args.rounds} 轮, 中位数:")
    print("| 状态 | 线程 | 秒 | 相对空闲 |")
    print("|---|---|---|---|")
    print(f"| 空闲 | {sorted(threads['idle'])} | {med['idle']:.2f} | 1 |")
    print(f"| 空闲, 1 线程 (只剩一个核时的下限) | [1] | {med['idle-1']:.2f} | {med['idle-1'] / med['idle']:.2f}× |")
    print(f"| 负载 ({args.load}) | {sorted(threads['load'])} | {med['load']:.2f} | **{med['load'] / med['idle']:.2f}×** "
          f"(逐对 {pairs}) |")


def alexnet_small():
    """AlexNet as in lecture 24 with a quarter of the channels (1-channel 224 px input)."""
    return nn.Sequential(
        nn.Conv2d(1, 24, 11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(24, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(64 * 5 * 5, 256), nn.ReLU(), nn.Linear(256, 10))


def bench_layout(args):
    """5. Memory layout on the CPU: training steps in NCHW (torch's default) vs channels_last (what
    train_ch6/train_ch13 use on the CPU), same process, alternating, medians of 3."""
    torch.set_num_threads(DEFAULT_THREADS if args.threads == "auto" else int(args.threads))
    print(f"\n5. CPU 上一个训练步的时间 (毫秒, {torch.get_num_threads()} 线程), NCHW 与 channels_last 交替, 中位数:")
    print("| 模型 | 批量 × 像素 | NCHW | channels_last | 加速比 |")
    print("|---|---|---|---|---|")
    for name, build, batch, px, steps in (("LeNet", lenet, 256, 28, 20), ("AlexNet (通道 ÷4)", alexnet_small, 64, 224, 6),
                                         ("ResNet-18", resnet18, 64, 96, 4)):
        X, y = torch.rand(batch, 1, px, px), torch.randint(0, 10, (batch,))
        ms = {False: [], True: []}
        for _ in range(3):
            for cl in (False, True):
                torch.manual_seed(0)
                net, Xi = build(), X
                if cl:
                    net, Xi = net.to(memory_format=torch.channels_last), X.contiguous(memory_format=torch.channels_last)
                opt = torch.optim.SGD(net.parameters(), lr=0.01)

                def step():
                    opt.zero_grad()
                    nn.functional.cross_entropy(net(Xi), y).backward()
                    opt.step()
                step()  # warm-up: oneDNN picks its kernels on the first call
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                ms[cl].append((time.perf_counter() - start) / steps * 1e3)
        a, b = statistics.median(ms[False]), statistics.median(ms[True])
        print(f"| {name} | {batch} × {px}px | {a:.1f} | {b:.1f} | **{a / b:.2f}×** |")


VARIANTS = {
    # name: (what it changes, train_ch6 keyword arguments, wrap the model, SGD keyword arguments)
    "now": ("d2lutils as the chapters use it (cuda: bf16 autocast + channels_last)", {}, None, {}),
    "fp32": ("no autocast (fp32), channels_last", {"amp": False}, None, {}),
    "fused": ("+ fused SGD (one kernel for all parameters)", {}, None, {"fused": True}),
    "foreach": ("+ foreach SGD (grouped parameter updates)", {}, None, {"foreach": True}),
    "compile": ("+ torch.compile(mode='reduce-overhead'): CUDA graphs, fused kernels; compile time included",
                {}, lambda net: torch.compile(net, mode="reduce-overhead"), {}),
}


def bench_variants(args, device):
    """6. Where the time of a small model goes on a GPU: train_ch6 on LeNet with one change at a time
    (autocast off, fused/foreach optimizer, torch.compile). Wall time includes any warm-up or compilation."""
    cuda = device.type == "cuda"
    epochs = args.epochs or 2
    tr, te = d2l.load_data_fashion_mnist(256, device=device, subset=args.subset, test_subset=args.test_subset,
                                         test_batch_size=1024)
    print(f"\n6. LeNet 训练步的变体 ({device}, {epochs} 轮, 训练 {tr.num_examples} 张): 每次只改一处")
    print("| 变体 | 改了什么 | 总时间 (秒) | 样本/秒 (训练部分) | 测试精度 |")
    print("|---|---|---|---|---|")
    for name in args.variants.split(","):
        what, kwargs, wrap, sgd = VARIANTS[name]
        d2l.seed_everything(0)
        net = lenet()
        try:
            opt = torch.optim.SGD(net.parameters(), lr=0.9, **sgd)
            model = wrap(net) if wrap else net
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                h = d2l.train_ch6(model, tr, te, epochs, None, device, optimizer=opt, amp=kwargs.get("amp", cuda),
                                  channels_last=True if cuda else None, animate=False)
            wall = time.perf_counter() - start
            print(f"| {name} | {what} | {wall:.2f} | {h.examples_per_sec:,.0f} | {h.test_acc[-1]:.3f} |")
        except Exception as e:  # a variant this torch/device cannot run is a result too
            print(f"| {name} | {what} | – | – | 不能运行: {type(e).__name__}: {str(e).splitlines()[0][:120]} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="input,lenet,resnet")
    p.add_argument("--epochs", type=int, default=None, help="default: the lecture's 10")
    p.add_argument("--subset", type=int, default=None, help="training images (default: all 60000)")
    p.add_argument("--test-subset", type=int, default=None, help="test images (default: all 10000)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers of the plain way")
    p.add_argument("--device", default=None)
    p.add_argument("--load", default="none", choices=["none", "python", "torch"],
                   help="one busy process beside the benchmark: none (idle), python (busy loop), "
                        "torch (a second notebook's small convolutions, default threads)")
    p.add_argument("--threads", default="auto",
                   help="threads of the d2lutils way: auto (what d2l.setup() chooses: the free cores) or N; "
                        "the plain way keeps torch's default")
    p.add_argument("--rounds", type=int, default=4, help="idle/loaded pairs of the 'load' row")
    p.add_argument("--variants", default="now,fp32,fused,foreach,compile",
                   help=f"the 'variants' row: comma-separated, from {','.join(VARIANTS)}")
    args = p.parse_args()
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        p.error(f"unknown --variants {sorted(unknown)}; choose from {','.join(VARIANTS)}")
    if "load" in args.only.split(",") and args.load == "none":
        p.error("--only load needs a busy process: --load python or --load torch")
    busy = start_load(args.load)
    try:
        run(args, busy)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


def run(args, busy=None):
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    root = torchvision_root()
    rows = []
    only = args.only.split(",")
    if "input" in only:
        bench_input(root, args, rows)
    if "lenet" in only:
        bench_model("2. LeNet", lenet, None, 0.9, 256, root, args, rows, device)
    if "resnet" in only:
        bench_model("3. ResNet-18", resnet18, 96, 0.05, 256, root, args, rows, device)
    if "load" in only:
        bench_load_interleaved(busy, args)
    if "layout" in only:
        bench_layout(args)
    if "variants" in only:
        bench_variants(args, device)
    if not rows:
        return
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU × {os.cpu_count()}"
    load = {"none": "空闲", "python": "旁边一个 Python 忙循环进程", "torch": "旁边一个 torch 小卷积进程"}[args.load]
    print(f"\n设备 {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}, 负载：{load} (load={args.load}), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '未设置')}")
    print("| 测试 | 常规写法 (秒) | d2lutils (秒) | 加速比 | 常规精度 | d2lutils 精度 | 备注 |")
    print("|---|---|---|---|---|---|---|")
    for what, tp, to, ap, ao, note in rows:
        accs = (f"{ap:.3f}", f"{ao:.3f}") if ap != "" else ("–", "–")
        print(f"| {what} | {tp:.2f} | {to:.2f} | {tp / to:.1f}× | {accs[0]} | {accs[1]} | {note} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
