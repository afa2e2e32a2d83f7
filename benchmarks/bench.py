#!/usr/bin/env python3
"""Side-by-side benchmarks: the plain PyTorch/torchvision way vs d2lutils, in one process.

    python benchmarks/bench.py                      # all three on the best device, lecture settings
    python benchmarks/bench.py --only input         # 1. one epoch of input batches (CPU)
    python benchmarks/bench.py --only lenet --epochs 2 --subset 20000   # shrink for a CPU

Plain way: torchvision FashionMNIST + ToTensor (+ Resize) + DataLoader(num_workers=4), fp32, a
training loop that calls .item() every batch. d2lutils: the whole dataset as uint8 on the device,
per-batch float conversion / F.interpolate there, running metrics on the device (train_ch6),
bf16 autocast and channels_last on CUDA. Prints a table with times, accuracies and ratios.
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import shutil
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
    t_plain, n_plain = timed(lambda: sum(len(y) for _, y in plain_train_iter))
    torch.set_num_threads(d2l_threads(args))
    cpu = torch.device("cpu")
    t_load, (ours_iter, _) = timed(lambda: d2l.load_data_fashion_mnist(256, device=cpu))
    t_ours, n_ours = timed(lambda: sum(len(y) for _, y in ours_iter))
    assert n_plain == n_ours == 60000
    rows.append(("1. 一轮输入批次 (cpu, batch 256)", t_plain, t_ours, "", "",
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
        return d2l.train_ch6(build(), tr2, te2, epochs, lr, device, amp=cuda, channels_last=cuda,
                             animate=False).test_acc[-1]
    t_ours, acc_ours = timed(ours)
    what = (f"{name} ({device}, {epochs} 轮, 训练 {subset or 60000} 张, 测试 {args.test_subset or 10000} 张, "
            f"{resize or 28}px)")
    rows.append((what, t_plain, t_ours, acc_plain, acc_ours,
                 ("bf16+channels_last" if cuda else "fp32") + f"; d2lutils {torch.get_num_threads()} 线程"))


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
    args = p.parse_args()
    busy = start_load(args.load)
    try:
        run(args)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


def run(args):
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
