"""d2lutils: 《动手学深度学习 v2》可执行教材的辅助函数。

Small, hand-written helpers with the familiar d2l names.  Chapters build things
from scratch first, later chapters import them from here.  Every function
returns its results; thresholds live in the chapters' check cells and in tests.
"""
__version__ = "0.1.0"

from .config import PROFILES, ProfileError, RunConfig, resolve_profile, setup
from .device import num_gpus, seed_everything, try_all_gpus, try_gpu
from .utils import Accumulator, Timer, glue
from .plotting import (Animator, empty_axes, plot, set_axes, set_figsize, show_images,
                       use_chinese_font, use_png)
from .hub import (REGISTRY, DataUnavailableError, cache_dir, extract, fetch,
                  local_mirrors)
from .conv import corr2d
from .arrays import ArrayLoader, linreg, load_array, sgd, squared_loss, synthetic_data
from .mnist import (FASHION_MNIST_LABELS, get_fashion_mnist_labels, load_data_fashion_mnist,
                    load_data_mnist, load_mnist_tensors, read_idx)
from .train import (History, accuracy, evaluate_accuracy, evaluate_accuracy_gpu, evaluate_loss,
                    predict_ch3, train_ch3, train_ch6, train_epoch_ch3)
from .checks import NonFiniteLossError, bilingual
