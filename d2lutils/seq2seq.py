"""Machine translation (English → French, ``fra-eng``) and the GRU encoder–decoder (lectures 60–63).

Data: ``read_data_nmt``, ``preprocess_nmt``, ``tokenize_nmt``, ``truncate_pad``, ``build_array_nmt``,
``load_data_nmt``.  Models: the abstract ``Encoder`` / ``Decoder`` / ``EncoderDecoder`` and the GRU
``Seq2SeqEncoder`` / ``Seq2SeqDecoder``.  Training and use: ``sequence_mask``, ``MaskedSoftmaxCELoss``,
``train_seq2seq`` (prints ``损失 0.203, 12345.6 词元/秒 (cpu)``), ``predict_seq2seq`` and ``bleu``.

A decoder's state is whatever its ``init_state(enc_outputs, enc_valid_lens)`` returns; ``forward(X,
state)`` returns ``(output, new_state)``.  Attention decoders (lectures 66 and 68) plug in by keeping
the encoder outputs and ``enc_valid_lens`` in the state and by overriding ``attention_weights``.
"""
from __future__ import annotations

import collections
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from . import checks
from . import facts
from .arrays import ArrayLoader, load_array
from .hub import extract
from .plotting import Animator
from .text import Vocab
from .utils import Timer

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


# ----------------------------------------------------------------------------------------- data
def read_data_nmt() -> str:
    """The raw English–French text (``fra.txt`` of ``fra-eng.zip``): one ``English\\tFrench`` pair a line."""
    folder = extract("fra-eng.zip")
    path = next(Path(folder).rglob("fra.txt"))
    return path.read_text(encoding="utf-8")


_SPACE_BEFORE_PUNCT = re.compile(r"(?<=\S)([,.!?])")
# Every Unicode space except the tab (between the two languages) and the newline (between pairs):
# U+00A0 no-break space, U+2009 thin space, U+202F narrow no-break space, … ; runs become one space.
_UNICODE_SPACES = re.compile(r"[^\S\t\n]+")


def preprocess_nmt(text: str) -> str:
    """Lower-case, turn every Unicode space (NBSP, thin space, …) into one plain space, and put a space
    before ``, . ! ?``.

    Idempotent: a text that was already preprocessed does not change.
    """
    text = _UNICODE_SPACES.sub(" ", text).lower()
    return _SPACE_BEFORE_PUNCT.sub(r" \1", text)


def tokenize_nmt(text: str, num_examples: Optional[int] = None) -> tuple[list[list[str]], list[list[str]]]:
    """Split preprocessed lines into word tokens; returns ``(source, target)`` lists of token lists."""
    checks.positive_int("num_examples", num_examples, allow_none=True)
    source: list[list[str]] = []
    target: list[list[str]] = []
    for i, line in enumerate(text.split("\n")):
        if num_examples is not None and i >= num_examples:
            break
        parts = line.split("\t")
        if len(parts) >= 2:
            source.append(parts[0].split(" "))
            target.append(parts[1].split(" "))
    return source, target


def truncate_pad(line: Sequence, num_steps: int, padding_token) -> list:
    """Cut ``line`` to ``num_steps`` items or pad it with ``padding_token`` up to ``num_steps``."""
    checks.positive_int("num_steps", num_steps)
    line = list(line)
    if len(line) > num_steps:
        return line[:num_steps]
    return line + [padding_token] * (num_steps - len(line))


def build_array_nmt(lines: Sequence[Sequence[str]], vocab, num_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists → an index tensor ``(n, num_steps)`` (``<eos>`` appended, padded) and the valid lengths."""
    checks.non_empty("lines", lines)
    checks.positive_int("num_steps", num_steps)
    rows = [truncate_pad(list(vocab[list(l)]) + [vocab[EOS]], num_steps, vocab[PAD]) for l in lines]
    array = torch.tensor(rows, dtype=torch.long)
    valid_len = (array != vocab[PAD]).type(torch.int32).sum(1)
    return array, valid_len


def load_data_nmt(batch_size: int, num_steps: int, num_examples: int = 600,
                  min_freq: int = 2) -> tuple[ArrayLoader, object, object]:
    """Minibatches ``(X, X_valid_len, Y, Y_valid_len)`` of the first ``num_examples`` pairs, and both vocabularies.

    The vocabularies keep tokens seen at least ``min_freq`` times (the lecture: 2; rarer ones become
    ``<unk>``) and reserve ``<pad>``, ``<bos>``, ``<eos>``.
    """
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("num_steps", num_steps)
    checks.positive_int("num_examples", num_examples, allow_none=True)
    checks.int_at_least("min_freq", min_freq, 0)
    text = read_data_nmt()
    if num_examples is not None:  # only the lines that are used need preprocessing
        text = "\n".join(text.split("\n", num_examples)[:num_examples])
    source, target = tokenize_nmt(preprocess_nmt(text), num_examples)
    reserved = [PAD, BOS, EOS]
    src_vocab = Vocab(source, min_freq=min_freq, reserved_tokens=reserved)
    tgt_vocab = Vocab(target, min_freq=min_freq, reserved_tokens=reserved)
    src_array, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
    tgt_array, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
    data_iter = load_array((src_array, src_valid_len, tgt_array, tgt_valid_len), batch_size)
    return data_iter, src_vocab, tgt_vocab


# --------------------------------------------------------------------------------------- models
class Encoder(nn.Module):
    """Base class: turns the source sequence into the encoder's outputs."""

    def forward(self, X: torch.Tensor, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    """Base class: ``init_state`` from the encoder's outputs, then ``forward(X, state) -> (output, state)``."""

    def init_state(self, enc_outputs, *args):
        raise NotImplementedError

    def forward(self, X: torch.Tensor, state):
        raise NotImplementedError

    @property
    def attention_weights(self):
        """Attention weights of the last ``forward`` call (``None`` for a decoder without attention)."""
        return None


class EncoderDecoder(nn.Module):
    """Encoder and decoder together: ``forward(enc_X, dec_X, *args) -> (output, state)``."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X: torch.Tensor, dec_X: torch.Tensor, *args):
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


def _gru(input_size: int, num_hiddens: int, num_layers: int, dropout: float) -> nn.GRU:
    # nn.GRU applies dropout between layers only; with one layer it would warn.
    return nn.GRU(input_size, num_hiddens, num_layers, dropout=dropout if num_layers > 1 else 0.0)


class Seq2SeqEncoder(Encoder):
    """Embedding + multi-layer GRU; returns ``(outputs (T, B, H), state (L, B, H))``."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **kwargs) -> None:
        for _name, _value in (("vocab_size", vocab_size), ("embed_size", embed_size),
                              ("num_hiddens", num_hiddens), ("num_layers", num_layers)):
            checks.positive_int(_name, _value)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = _gru(embed_size, num_hiddens, num_layers, dropout)

    def forward(self, X: torch.Tensor, *args):
        X = self.embedding(X).permute(1, 0, 2)  # (batch, steps, embed) -> (steps, batch, embed)
        output, state = self.rnn(X)
        return output, state


class Seq2SeqDecoder(Decoder):
    """GRU decoder whose input at every step is [embedding; context], the context being the encoder's
    top-layer output at its last step (fixed for the whole target sequence).

    The state is ``(enc_outputs, hidden_state)``; the encoder's final hidden state initialises
    ``hidden_state``.  ``forward`` returns logits ``(batch, steps, vocab_size)`` and the new state.
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0, **kwargs) -> None:
        for _name, _value in (("vocab_size", vocab_size), ("embed_size", embed_size),
                              ("num_hiddens", num_hiddens), ("num_layers", num_layers)):
            checks.positive_int(_name, _value)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = _gru(embed_size + num_hiddens, num_hiddens, num_layers, dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, *args):
        enc_output, enc_state = enc_outputs
        return enc_output, enc_state

    def forward(self, X: torch.Tensor, state):
        enc_output, hidden = state
        X = self.embedding(X).permute(1, 0, 2)               # (steps, batch, embed)
        context = enc_output[-1].expand(X.shape[0], -1, -1)   # (steps, batch, hidden)
        output, hidden = self.rnn(torch.cat((X, context), dim=2), hidden)
        return self.dense(output).permute(1, 0, 2), (enc_output, hidden)


# ------------------------------------------------------------------------------ loss and training
def sequence_mask(X: torch.Tensor, valid_len: torch.Tensor, value: float = 0) -> torch.Tensor:
    """Set the entries of ``X`` (batch, steps, ...) past each row's ``valid_len`` to ``value`` (in place); returns ``X``."""
    checks.not_nan("value", value)
    maxlen = X.size(1)
    mask = torch.arange(maxlen, dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    """Cross-entropy that ignores padding: ``forward(pred (B, T, V), label (B, T), valid_len (B,))``.

    Returns one value per sequence: the masked per-token losses summed over the steps and divided by
    the number of steps ``T`` (as in d2l).
    """

    def __init__(self) -> None:
        super().__init__(reduction="none")

    def forward(self, pred: torch.Tensor, label: torch.Tensor, valid_len: torch.Tensor) -> torch.Tensor:
        weights = sequence_mask(torch.ones_like(label, dtype=pred.dtype), valid_len)
        # (B*T, V) rows keep the softmax over contiguous memory (faster than permuting to (B, V, T)).
        unweighted = super().forward(pred.reshape(-1, pred.shape[-1]), label.reshape(-1)).reshape(label.shape)
        return (unweighted * weights).mean(dim=1)


@dataclass
class Seq2SeqHistory:
    """Per-epoch training loss (mean cross-entropy per target token) and the speed."""

    train_loss: list[float] = field(default_factory=list)
    tokens_per_sec: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"

    def summary(self) -> str:
        return f"损失 {self.train_loss[-1]:.3f}, {self.tokens_per_sec:.1f} 词元/秒 ({self.device})"


def _init_seq2seq(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
    if isinstance(m, nn.GRU):
        for name, p in m.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)


def train_seq2seq(net: nn.Module, data_iter, lr: float, num_epochs: int, tgt_vocab,
                  device: Optional[torch.device] = None, *, animate: bool = True,
                  clip: float = 1.0) -> Seq2SeqHistory:
    """Train an encoder–decoder with Adam and teacher forcing (the decoder reads ``<bos>`` + the target
    shifted right).  Gradients are clipped to norm ``clip``.  Returns the per-epoch losses (mean
    cross-entropy per valid target token) and prints ``损失 …, … 词元/秒 (device)``.
    """
    checks.positive_number("lr", lr)
    checks.positive_int("num_epochs", num_epochs)
    checks.device("device", device, allow_none=True)
    checks.positive_number("clip", clip)
    device = torch.device(device) if device is not None else torch.device("cpu")
    net.apply(_init_seq2seq)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss = MaskedSoftmaxCELoss()
    net.train()
    history = Seq2SeqHistory(device=str(device))
    animator = Animator(xlabel="轮", ylabel="损失", xlim=[1, num_epochs]) if animate else None
    timer = Timer()
    n_tokens = 0
    bos = tgt_vocab[BOS]
    for epoch in range(num_epochs):
        timer.start()
        loss_sum = torch.zeros((), device=device)
        tokens = torch.zeros((), device=device, dtype=torch.long)
        for batch in data_iter:
            optimizer.zero_grad(set_to_none=True)
            X, X_valid_len, Y, Y_valid_len = [x.to(device) for x in batch]
            dec_input = torch.cat([torch.full((Y.shape[0], 1), bos, device=device, dtype=Y.dtype),
                                   Y[:, :-1]], dim=1)   # teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)
            l.sum().backward()
            nn.utils.clip_grad_norm_(net.parameters(), clip)
            optimizer.step()
            with torch.no_grad():
                loss_sum += l.detach().sum() * Y.shape[1]   # back to a sum over the valid tokens
                tokens += Y_valid_len.sum()
        timer.stop()
        n = int(tokens)
        n_tokens += n
        history.train_loss.append(float(loss_sum) / n)
        if animator and ((epoch + 1) % 10 == 0 or epoch + 1 == num_epochs):
            animator.add(epoch + 1, [history.train_loss[-1]])
    history.seconds = timer.sum()
    history.tokens_per_sec = n_tokens / history.seconds if history.seconds else 0.0
    print(history.summary())
    facts.record_metrics(loss=history.train_loss[-1], tokens_per_sec=history.tokens_per_sec)
    return history


# ----------------------------------------------------------------------------------- prediction
def predict_seq2seq(net: nn.Module, src_sentence: str, src_vocab, tgt_vocab, num_steps: int,
                    device: Optional[torch.device] = None,
                    save_attention_weights: bool = False) -> tuple[str, list]:
    """Greedy translation of one sentence; returns ``(translation, attention_weights per step)``."""
    checks.positive_int("num_steps", num_steps)
    checks.device("device", device, allow_none=True)
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.eval()
    src_tokens = list(src_vocab[preprocess_nmt(src_sentence).split(" ")]) + [src_vocab[EOS]]
    enc_valid_len = torch.tensor([len(src_tokens)], device=device)
    src_tokens = truncate_pad(src_tokens, num_steps, src_vocab[PAD])
    enc_X = torch.tensor([src_tokens], dtype=torch.long, device=device)
    output_seq: list[int] = []
    attention_weight_seq: list = []
    with torch.no_grad():
        enc_outputs = net.encoder(enc_X, enc_valid_len)
        dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
        dec_X = torch.tensor([[tgt_vocab[BOS]]], dtype=torch.long, device=device)
        for _ in range(num_steps):
            Y, dec_state = net.decoder(dec_X, dec_state)
            dec_X = Y.argmax(dim=2)
            pred = int(dec_X.squeeze(0).item())
            if save_attention_weights:
                attention_weight_seq.append(net.decoder.attention_weights)
            if pred == tgt_vocab[EOS]:
                break
            output_seq.append(pred)
    return " ".join(tgt_vocab.to_tokens(output_seq)), attention_weight_seq


def bleu(pred_seq: str, label_seq: str, k: int) -> float:
    """BLEU as in the lecture: ``exp(min(0, 1 - len_label/len_pred)) * prod_n p_n ** (1/2**n)``, n = 1..k.

    ``p_n`` is the clipped n-gram precision; a prediction shorter than ``n`` tokens has ``p_n = 0``.
    """
    checks.positive_int("k", k)
    pred_tokens, label_tokens = pred_seq.split(), label_seq.split()
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    if len_pred == 0:
        return 0.0
    score = math.exp(min(0.0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        if len_pred < n:
            return 0.0
        label_counts = collections.Counter(tuple(label_tokens[i:i + n]) for i in range(len_label - n + 1))
        pred_counts = collections.Counter(tuple(pred_tokens[i:i + n]) for i in range(len_pred - n + 1))
        matches = sum(min(c, label_counts[g]) for g, c in pred_counts.items())
        score *= math.pow(matches / (len_pred - n + 1), math.pow(0.5, n))
    return score
