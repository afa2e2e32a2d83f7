"""Attention (lectures 64–68): heatmaps, masked softmax, attention scoring, multi-head attention,
positional encoding and the Transformer encoder/decoder, with d2l's names and signatures.

The chapters build each piece from scratch first and compare it with PyTorch's own
(``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``); later chapters import these.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator
from torch import nn

from . import checks
from .seq2seq import Decoder, Encoder


def show_heatmaps(matrices, xlabel: str, ylabel: str, titles: Optional[Sequence[str]] = None,
                  figsize: tuple[float, float] = (2.5, 2.5), cmap: str = "Reds"):
    """Draw a grid of heatmaps; ``matrices`` has shape (rows, cols, num_queries, num_keys).

    Returns the figure.
    """
    checks.non_empty("titles", titles, allow_none=True)
    checks.finite_numbers("figsize", figsize, 2, positive=True)
    matrices = torch.as_tensor(matrices).detach().cpu()
    # The colour scale always includes 0 (attention weights are non-negative).
    vmin, vmax = min(0.0, float(matrices.min())), max(0.0, float(matrices.max()))
    num_rows, num_cols = matrices.shape[0], matrices.shape[1]
    fig, axes = plt.subplots(num_rows, num_cols, figsize=figsize, sharex=True, sharey=True,
                             squeeze=False)
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            pcm = ax.imshow(matrices[i, j].numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # positions are whole numbers
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles is not None:
                ax.set_title(titles[j])
    fig.colorbar(pcm, ax=axes, shrink=0.6)
    return fig


def masked_softmax(X: torch.Tensor, valid_lens: Optional[torch.Tensor]) -> torch.Tensor:
    """Softmax over the last axis of ``X`` (batch, queries, keys), ignoring keys past ``valid_lens``.

    ``valid_lens`` is None, one length per example (batch,) or one per query (batch, queries).
    Masked scores are set to -1e6 (not -inf), so a row with no valid key stays finite.
    """
    if valid_lens is None:
        return torch.softmax(X, dim=-1)
    shape = X.shape
    if valid_lens.dim() == 1:
        valid_lens = valid_lens[:, None].expand(shape[0], shape[1])
    keep = torch.arange(shape[-1], device=X.device) < valid_lens.to(X.device)[..., None]
    return torch.softmax(X.masked_fill(~keep, -1e6), dim=-1)


def _check_heads(**sizes: int) -> None:
    """Sizes must be positive ints, and ``num_hiddens`` must split evenly into ``num_heads``."""
    for name, value in sizes.items():
        checks.positive_int(name, value)
    if "num_heads" in sizes and sizes["num_hiddens"] % sizes["num_heads"]:
        raise checks.ArgumentError(checks.bilingual(
            f"num_hiddens={sizes['num_hiddens']} 必须能被 num_heads={sizes['num_heads']} 整除（每个头分到同样多的维度）",
            f"num_hiddens={sizes['num_hiddens']} must be divisible by num_heads={sizes['num_heads']}"))


class AdditiveAttention(nn.Module):
    """Additive attention: score(q, k) = w_v^T tanh(W_q q + W_k k)."""

    def __init__(self, key_size: int, query_size: int, num_hiddens: int, dropout: float, **kwargs):
        for _name, _value in (("key_size", key_size), ("query_size", query_size),
                              ("num_hiddens", num_hiddens)):
            checks.positive_int(_name, _value)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights: Optional[torch.Tensor] = None

    def forward(self, queries, keys, values, valid_lens=None):
        # (batch, q, 1, h) + (batch, 1, k, h) -> (batch, q, k, h) -> scores (batch, q, k)
        features = torch.tanh(self.W_q(queries).unsqueeze(2) + self.W_k(keys).unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class DotProductAttention(nn.Module):
    """Scaled dot-product attention: softmax(Q K^T / sqrt(d)) V."""

    def __init__(self, dropout: float = 0.0, **kwargs):
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights: Optional[torch.Tensor] = None

    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


def transpose_qkv(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, n, num_hiddens) -> (batch * num_heads, n, num_hiddens / num_heads)."""
    checks.positive_int("num_heads", num_heads)
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1).permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Undo ``transpose_qkv``: (batch * num_heads, n, d) -> (batch, n, num_heads * d)."""
    checks.positive_int("num_heads", num_heads)
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2]).permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: ``num_heads`` scaled dot-product heads computed in parallel."""

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 num_heads: int, dropout: float, bias: bool = False, **kwargs):
        _check_heads(key_size=key_size, query_size=query_size, value_size=value_size,
                     num_hiddens=num_hiddens, num_heads=num_heads)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None):
        queries = transpose_qkv(self.W_q(queries), self.num_heads)
        keys = transpose_qkv(self.W_k(keys), self.num_heads)
        values = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:  # one copy of the lengths per head
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(transpose_output(output, self.num_heads))


class PositionalEncoding(nn.Module):
    """Add sinusoidal positions: P[i, 2j] = sin(i / 10000^(2j/d)), P[i, 2j+1] = cos(…)."""

    def __init__(self, num_hiddens: int, dropout: float, max_len: int = 1000):
        checks.positive_int("num_hiddens", num_hiddens)
        checks.dropout("dropout", dropout)
        checks.positive_int("max_len", max_len)
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]
        omega = 1 / torch.pow(10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
        P = torch.zeros(1, max_len, num_hiddens)
        P[0, :, 0::2] = torch.sin(pos * omega)
        P[0, :, 1::2] = torch.cos(pos * omega[: num_hiddens // 2])
        self.register_buffer("P", P, persistent=False)

    def forward(self, X, offset: int = 0):
        # ``offset``: position of X's first step (prediction feeds one step at a time).
        return self.dropout(X + self.P[:, offset: offset + X.shape[1], :].to(X.dtype))


class AttentionDecoder(Decoder):
    """A decoder that records its attention weights (exposed as ``attention_weights``)."""

    @property
    def attention_weights(self):
        raise NotImplementedError


class PositionWiseFFN(nn.Module):
    """The same two-layer MLP applied at every position."""

    def __init__(self, ffn_num_input: int, ffn_num_hiddens: int, ffn_num_outputs: int, **kwargs):
        for _name, _value in (("ffn_num_input", ffn_num_input), ("ffn_num_hiddens", ffn_num_hiddens),
                              ("ffn_num_outputs", ffn_num_outputs)):
            checks.positive_int(_name, _value)
        super().__init__(**kwargs)
        self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    """Residual connection followed by layer normalization: LayerNorm(X + Dropout(Y))."""

    def __init__(self, normalized_shape, dropout: float, **kwargs):
        checks.shape("normalized_shape", normalized_shape)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, X, Y):
        return self.ln(self.dropout(Y) + X)


class EncoderBlock(nn.Module):
    """Transformer encoder block: self-attention and FFN, each followed by AddNorm."""

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 norm_shape, ffn_num_input: int, ffn_num_hiddens: int, num_heads: int,
                 dropout: float, use_bias: bool = False, **kwargs):
        _check_heads(key_size=key_size, query_size=query_size, value_size=value_size,
                     num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.attention = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                            num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(norm_shape, dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class TransformerEncoder(Encoder):
    """Embedding (scaled by sqrt(d)) + positional encoding + ``num_layers`` encoder blocks."""

    def __init__(self, vocab_size: int, key_size: int, query_size: int, value_size: int,
                 num_hiddens: int, norm_shape, ffn_num_input: int, ffn_num_hiddens: int,
                 num_heads: int, num_layers: int, dropout: float, use_bias: bool = False, **kwargs):
        _check_heads(vocab_size=vocab_size, key_size=key_size, query_size=query_size,
                     value_size=value_size, num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential(*[
            EncoderBlock(key_size, query_size, value_size, num_hiddens, norm_shape,
                         ffn_num_input, ffn_num_hiddens, num_heads, dropout, use_bias)
            for _ in range(num_layers)])
        self.attention_weights: list = [None] * num_layers

    def forward(self, X, valid_lens, *args):
        # The embedding is scaled up so that it is not swamped by the positional encoding (in [-1, 1]).
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
        self.attention_weights = [None] * len(self.blks)
        for i, blk in enumerate(self.blks):
            X = blk(X, valid_lens)
            self.attention_weights[i] = blk.attention.attention.attention_weights
        return X


class DecoderBlock(nn.Module):
    """The ``i``-th Transformer decoder block: masked self-attention, encoder–decoder attention, FFN.

    The state is ``[enc_outputs, enc_valid_lens, keys_so_far]``; in prediction ``keys_so_far[i]``
    caches this block's inputs of the earlier time steps.
    """

    def __init__(self, key_size: int, query_size: int, value_size: int, num_hiddens: int,
                 norm_shape, ffn_num_input: int, ffn_num_hiddens: int, num_heads: int,
                 dropout: float, i: int, **kwargs):
        _check_heads(key_size=key_size, query_size=query_size, value_size=value_size,
                     num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        checks.int_at_least("i", i, 0)
        super().__init__(**kwargs)
        self.i = i
        self.attention1 = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                             num_heads, dropout)
        self.addnorm1 = AddNorm(norm_shape, dropout)
        self.attention2 = MultiHeadAttention(key_size, query_size, value_size, num_hiddens,
                                             num_heads, dropout)
        self.addnorm2 = AddNorm(norm_shape, dropout)
        self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
        self.addnorm3 = AddNorm(norm_shape, dropout)

    def forward(self, X, state):
        enc_outputs, enc_valid_lens = state[0], state[1]
        if state[2][self.i] is None:
            key_values = X
        else:
            key_values = torch.cat((state[2][self.i], X), dim=1)
        state[2][self.i] = key_values
        if self.training:
            # Causal mask: position t may only attend to positions 1..t.
            batch_size, num_steps, _ = X.shape
            dec_valid_lens = torch.arange(1, num_steps + 1, device=X.device).repeat(batch_size, 1)
        else:
            dec_valid_lens = None  # prediction feeds one step at a time: all cached keys are past
        X2 = self.attention1(X, key_values, key_values, dec_valid_lens)
        Y = self.addnorm1(X, X2)
        Y2 = self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens)
        Z = self.addnorm2(Y, Y2)
        return self.addnorm3(Z, self.ffn(Z)), state


class TransformerDecoder(AttentionDecoder):
    """Embedding + positional encoding + ``num_layers`` decoder blocks + output layer."""

    def __init__(self, vocab_size: int, key_size: int, query_size: int, value_size: int,
                 num_hiddens: int, norm_shape, ffn_num_input: int, ffn_num_hiddens: int,
                 num_heads: int, num_layers: int, dropout: float, **kwargs):
        _check_heads(vocab_size=vocab_size, key_size=key_size, query_size=query_size,
                     value_size=value_size, num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential(*[
            DecoderBlock(key_size, query_size, value_size, num_hiddens, norm_shape,
                         ffn_num_input, ffn_num_hiddens, num_heads, dropout, i)
            for i in range(num_layers)])
        self.dense = nn.Linear(num_hiddens, vocab_size)
        self._attention_weights: list = [[None] * num_layers for _ in range(2)]

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        return [enc_outputs, enc_valid_lens, [None] * self.num_layers]

    def forward(self, X, state):
        # In prediction, the cache of block 0 holds the earlier steps: continue their positions.
        offset = 0 if state[2][0] is None else state[2][0].shape[1]
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens), offset)
        # A fresh list per call, so that weights saved at earlier prediction steps are not overwritten.
        self._attention_weights = [[None] * self.num_layers for _ in range(2)]
        for i, blk in enumerate(self.blks):
            X, state = blk(X, state)
            self._attention_weights[0][i] = blk.attention1.attention.attention_weights
            self._attention_weights[1][i] = blk.attention2.attention.attention_weights
        return self.dense(X), state

    @property
    def attention_weights(self):
        """[decoder self-attention weights per block, encoder–decoder attention weights per block]."""
        return self._attention_weights
