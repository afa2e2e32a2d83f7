"""Character-level recurrent language models: the scratch wrapper, the concise model, the trainer.

``train_ch8`` returns an ``RNNHistory`` and prints one fixed line that tools parse, e.g.
``困惑度 1.3, 12345.6 词元/秒 (cpu)``, followed by two sample continuations of
``time traveller`` and ``traveller`` (and ``验证困惑度 …`` when a held-out iterator is given).
``evaluate_ppl_ch8`` scores a model on held-out text; ``sample_word_stats`` tells whether a
continuation reads as words.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import torch
from torch import nn
from torch.nn import functional as F

from . import checks
from .plotting import Animator
from . import facts
from .progress import progress_enabled
from .utils import Timer

State = Union[torch.Tensor, tuple[torch.Tensor, ...]]


class RNNModelScratch:
    """A recurrent network built from plain tensors (d2l's interface).

    ``get_params(vocab_size, num_hiddens, device)`` returns the parameter list,
    ``init_state(batch_size, num_hiddens, device)`` the initial state (a tuple), and
    ``forward_fn(inputs, state, params)`` maps one-hot inputs of shape
    ``(num_steps, batch_size, vocab_size)`` to ``(outputs, state)`` with outputs of shape
    ``(num_steps * batch_size, vocab_size)``.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, device: torch.device,
                 get_params: Callable, init_state: Callable, forward_fn: Callable) -> None:
        checks.positive_int("vocab_size", vocab_size)
        checks.positive_int("num_hiddens", num_hiddens)
        checks.device("device", device, allow_none=True)
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X: torch.Tensor, state):
        """``X``: token indices of shape ``(batch_size, num_steps)``."""
        X = F.one_hot(X.T.long(), self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size: int, device: torch.device):
        return self.init_state(batch_size, self.num_hiddens, device)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params)


class RNNModel(nn.Module):
    """A recurrent layer (``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``) plus a linear output layer.

    Inputs are token indices ``(batch_size, num_steps)``, one-hot encoded inside; outputs have
    shape ``(num_steps * batch_size, vocab_size)``. Works for several layers and bidirectional layers.
    """

    def __init__(self, rnn_layer: nn.RNNBase, vocab_size: int, **kwargs) -> None:
        if not isinstance(rnn_layer, nn.RNNBase):
            raise checks.ArgumentError(checks.bilingual(
                f"rnn_layer 必须是 nn.RNN、nn.GRU 或 nn.LSTM，收到的是 {type(rnn_layer).__name__}",
                f"rnn_layer must be an nn.RNN, nn.GRU or nn.LSTM, got {type(rnn_layer).__name__}"))
        checks.positive_int("vocab_size", vocab_size)
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = rnn_layer.hidden_size
        self.num_directions = 2 if rnn_layer.bidirectional else 1
        self.linear = nn.Linear(self.num_hiddens * self.num_directions, vocab_size)

    def forward(self, inputs: torch.Tensor, state: State):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape(-1, Y.shape[-1])), state

    def begin_state(self, batch_size: int = 1, device: Optional[torch.device] = None) -> State:
        if device is None:
            device = self.linear.weight.device
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        if isinstance(self.rnn, nn.LSTM):
            return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))
        return torch.zeros(shape, device=device)


def _params(net) -> list[torch.Tensor]:
    if isinstance(net, nn.Module):
        return [p for p in net.parameters() if p.requires_grad]
    return list(net.params)


def grad_clipping(net, theta: float) -> torch.Tensor:
    """Rescale all gradients so that their joint L2 norm is at most ``theta``.

    Works for ``nn.Module`` and for ``RNNModelScratch``; stays on the device (no ``.item()``)
    and returns the norm before clipping as a tensor.
    """
    checks.positive_number("theta", theta)
    grads = [p.grad for p in _params(net) if p.grad is not None]
    norm = torch.sqrt(sum(torch.sum(g * g) for g in grads))
    scale = torch.clamp(theta / (norm + 1e-12), max=1.0)
    for g in grads:
        g.mul_(scale)
    return norm


def _detach(state: State) -> State:
    if isinstance(state, (tuple, list)):
        return type(state)(s.detach() for s in state)
    return state.detach()


def predict_ch8(prefix: str, num_preds: int, net, vocab, device: torch.device) -> str:
    """Continue ``prefix`` by ``num_preds`` characters, each time taking the most likely one."""
    checks.non_empty("prefix", prefix)
    checks.positive_int("num_preds", num_preds)
    checks.device("device", device, allow_none=True)
    state = net.begin_state(batch_size=1, device=device)
    outputs = [vocab[prefix[0]]]
    with torch.no_grad():
        for ch in prefix[1:]:  # warm-up: feed the prefix, keep only the state
            _, state = net(torch.tensor([[outputs[-1]]], device=device), state)
            outputs.append(vocab[ch])
        for _ in range(num_preds):
            y, state = net(torch.tensor([[outputs[-1]]], device=device), state)
            outputs.append(int(y.argmax(dim=1).reshape(1)))
    return "".join(vocab.idx_to_token[i] for i in outputs)


def train_epoch_ch8(net, train_iter, loss, updater, device: torch.device,
                    use_random_iter: bool, theta: float = 1.0,
                    grad_norms: Optional[list] = None) -> tuple[float, int]:
    """One epoch with truncated BPTT. Returns (perplexity, number of tokens seen).

    ``updater`` is a torch optimizer or ``f(batch_size)`` (the scratch SGD). With sequential
    batches the state is carried over between minibatches but detached from the graph.
    When ``grad_norms`` is a list, the gradient norm before clipping of every step is appended
    to it (as a 0-d tensor, so that a GPU is not synchronised).
    """
    checks.device("device", device)
    checks.positive_number("theta", theta)
    state = None
    loss_sum = torch.zeros((), device=device)
    n = 0
    for X, Y in train_iter:
        if state is None or use_random_iter:
            state = net.begin_state(batch_size=X.shape[0], device=device)
        else:
            state = _detach(state)
        X, y = X.to(device), Y.T.reshape(-1).to(device)
        y_hat, state = net(X, state)
        l = loss(y_hat, y.long()).mean()
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad(set_to_none=True)
            l.backward()
            norm = nn.utils.clip_grad_norm_(net.parameters(), theta)
            updater.step()
        else:
            l.backward()
            norm = grad_clipping(net, theta)
            updater(batch_size=1)  # the loss is already a mean
        if grad_norms is not None:
            grad_norms.append(norm.detach())
        loss_sum += l.detach() * y.numel()
        n += y.numel()
    return math.exp(float(loss_sum) / n), n


@dataclass
class RNNHistory:
    """Per-epoch perplexities of a ``train_ch8`` run and the sample continuations at the end.

    ``valid_epochs``/``valid_perplexity``: held-out perplexity at those epochs (when ``train_ch8``
    got ``valid_iter``). ``grad_norms``: the gradient norm before clipping of every step, ``theta``
    the clipping threshold.
    """

    perplexity: list[float] = field(default_factory=list)
    tokens_per_sec: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"
    samples: dict[str, str] = field(default_factory=dict)
    valid_epochs: list[int] = field(default_factory=list)
    valid_perplexity: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    theta: float = 1.0

    @property
    def final(self) -> float:
        return self.perplexity[-1]

    @property
    def valid_final(self) -> Optional[float]:
        """Held-out perplexity after the last epoch (None without ``valid_iter``)."""
        return self.valid_perplexity[-1] if self.valid_perplexity else None

    @property
    def clipped_steps(self) -> int:
        """How many steps had a gradient norm above ``theta``, i.e. were really clipped."""
        return sum(g > self.theta for g in self.grad_norms)

    def summary(self) -> str:
        return f"困惑度 {self.final:.1f}, {self.tokens_per_sec:.1f} 词元/秒 ({self.device})"


def evaluate_ppl_ch8(net, data_iter, device: torch.device) -> float:
    """Perplexity of ``net`` on the minibatches of ``data_iter`` (sequential, state carried over).

    Forward passes only; the iterator's random offset is drawn from a private generator, so
    evaluating does not change the training run that follows.
    """
    checks.device("device", device)
    device = torch.device(device)
    if isinstance(net, nn.Module):
        was_training = net.training
        net.eval()
    saved = random.getstate()
    random.seed(0)  # the same offset every time: comparable numbers, training's random stream untouched
    state, total, n = None, torch.zeros((), device=device), 0
    try:
        with torch.no_grad():
            for X, Y in data_iter:
                if state is None:
                    state = net.begin_state(batch_size=X.shape[0], device=device)
                y_hat, state = net(X.to(device), state)
                y = Y.T.reshape(-1).to(device)
                total += F.cross_entropy(y_hat, y.long(), reduction="sum")
                n += y.numel()
    finally:
        random.setstate(saved)
        if isinstance(net, nn.Module) and was_training:
            net.train()
    return math.exp(float(total) / n)


def sample_word_stats(text: str, known_words, prefix: str = "time traveller") -> tuple[float, int]:
    """Does a continuation read as words? Returns (share of known words, longest run of one word).

    The words are those after ``prefix``, without the last one (cut off by the character limit).
    ``known_words`` is a set of the words of the book.
    """
    words = text[len(prefix):].split()[:-1] if text.startswith(prefix) else text.split()[:-1]
    if not words:
        return 0.0, 0
    share = sum(w in known_words for w in words) / len(words)
    longest = max(len(list(run)) for _, run in itertools.groupby(words))
    return share, longest


def train_ch8(net, train_iter, vocab, lr: float, num_epochs: int, device: torch.device,
              use_random_iter: bool = False, *, theta: float = 1.0, animate: bool = True,
              progress: Optional[bool] = None, valid_iter=None) -> RNNHistory:
    """Train a character-level language model with SGD, cross-entropy and gradient clipping.

    ``net`` is an ``RNNModel`` (moved to ``device``; ``torch.optim.SGD`` and ``clip_grad_norm_``)
    or an ``RNNModelScratch`` (its own minibatch SGD and ``grad_clipping``). Prints
    ``困惑度 …, … 词元/秒 (device)`` (tokens/s over all epochs) and two sample continuations.
    With ``valid_iter`` (held-out text, e.g. ``load_data_time_machine(..., start=10000)``) the
    held-out perplexity is measured about 50 times during training (not counted in the speed),
    drawn as a second curve and printed last as ``验证困惑度 …``.
    """
    checks.positive_number("lr", lr)
    checks.positive_int("num_epochs", num_epochs)
    checks.device("device", device)
    checks.positive_number("theta", theta)
    from .arrays import sgd

    device = torch.device(device)
    loss = nn.CrossEntropyLoss()
    if isinstance(net, nn.Module):
        net.to(device)
        updater = torch.optim.SGD(net.parameters(), lr)
    else:
        updater = lambda batch_size: sgd(net.params, lr, batch_size)  # noqa: E731
    history = RNNHistory(device=str(device), theta=theta)
    step = max(1, num_epochs // 50)
    animator = Animator(xlabel="轮", ylabel="困惑度", legend=["训练"] if valid_iter is None else ["训练", "验证"],
                        xlim=[1, max(num_epochs, 2)], yscale="log" if valid_iter is not None else "linear") \
        if animate else None
    norms: list[torch.Tensor] = []
    epochs = range(num_epochs)
    if progress_enabled(progress):
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc="epochs", leave=False)
    timer = Timer()
    tokens = 0
    for epoch in epochs:
        if isinstance(net, nn.Module):
            net.train()
        timer.start()
        ppl, n = train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, theta, norms)
        timer.stop()  # float(loss) in train_epoch_ch8 has synchronised the device
        tokens += n
        history.perplexity.append(ppl)
        if (epoch + 1) % step == 0 or epoch + 1 == num_epochs:
            values = [ppl]
            if valid_iter is not None:
                history.valid_epochs.append(epoch + 1)
                history.valid_perplexity.append(evaluate_ppl_ch8(net, valid_iter, device))
                values.append(history.valid_perplexity[-1])
            if animator:
                animator.add(epoch + 1, values)
    history.grad_norms = torch.stack(norms).tolist() if norms else []
    history.seconds = timer.sum()
    history.tokens_per_sec = tokens / history.seconds if history.seconds else 0.0
    if isinstance(net, nn.Module):
        net.eval()
    for prefix in ("time traveller", "traveller"):
        history.samples[prefix] = predict_ch8(prefix, 50, net, vocab, device)
    print(history.summary())
    facts.record_metrics(perplexity=history.final, tokens_per_sec=history.tokens_per_sec)
    for text in history.samples.values():
        print(text)
    if history.valid_final is not None:
        print(f"验证困惑度 {history.valid_final:.1f}")
    return history
