"""Text helpers of the recurrent-network chapters: read, tokenize, build a vocabulary, sample batches.

``load_data_time_machine(batch_size, num_steps)`` gives an iterator over ``(X, Y)`` pairs of
character indices (``Y`` is ``X`` shifted by one) and the ``Vocab`` that maps them back to text;
``start=10000`` gives the next 10,000 characters, text a model trained on the first ones has not seen.
"""
from __future__ import annotations

import collections
import math
import random
import re
from typing import Iterator, Optional, Sequence, Union

import torch

from . import checks
from .hub import fetch

Tokens = Union[Sequence[str], Sequence[Sequence[str]]]


def read_time_machine() -> list[str]:
    """H. G. Wells' *The Time Machine*, one string per line: letters only, lower case."""
    with open(fetch("timemachine.txt"), encoding="utf-8") as f:
        lines = f.readlines()
    return [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in lines]


def tokenize(lines: Sequence[str], token: str = "word") -> list[list[str]]:
    """Split each line into word tokens (``token="word"``) or character tokens (``"char"``)."""
    checks.non_empty("lines", lines)
    checks.one_of("token", token, ("word", "char"))
    if token == "word":
        return [line.split() for line in lines]
    if token == "char":
        return [list(line) for line in lines]
    raise ValueError(f"unknown token type {token!r}: use 'word' or 'char'")


def _flatten(tokens: Tokens) -> list:
    # A list of lists is a list of lines; tuples are tokens themselves (e.g. bigrams).
    if len(tokens) and isinstance(tokens[0], list):
        return [tok for line in tokens for tok in line]
    return list(tokens)


def count_corpus(tokens: Tokens) -> collections.Counter:
    """Frequency of each token; ``tokens`` is a flat list or a list of lines."""
    return collections.Counter(_flatten(tokens))


class Vocab:
    """Map tokens to indices and back; index 0 is the unknown token ``<unk>``.

    Tokens are ordered by decreasing frequency (ties in order of first appearance) after
    ``<unk>`` and the ``reserved_tokens``; tokens seen fewer than ``min_freq`` times are dropped.
    """

    def __init__(self, tokens: Optional[Tokens] = None, min_freq: int = 0,
                 reserved_tokens: Optional[Sequence[str]] = None) -> None:
        checks.non_empty("tokens", tokens, allow_none=True)
        checks.int_at_least("min_freq", min_freq, 0)
        counter = count_corpus(tokens or [])
        self._token_freqs = sorted(counter.items(), key=lambda kv: kv[1], reverse=True)
        self.idx_to_token: list[str] = ["<unk>"] + [t for t in (reserved_tokens or []) if t != "<unk>"]
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(self.idx_to_token)}
        for token, freq in self._token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.token_to_idx[token] = len(self.idx_to_token)
                self.idx_to_token.append(token)
        self._ngrams = any(isinstance(t, tuple) for t in self.idx_to_token)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        """Index of a token (``<unk>``'s 0 when unknown), or a list of indices for a list/tuple.

        In a vocabulary of n-grams (tuples) a tuple is one token, not a list of tokens.
        """
        if isinstance(tokens, tuple) and self._ngrams:
            return self.token_to_idx.get(tokens, self.unk)
        if isinstance(tokens, (list, tuple)):
            return [self.__getitem__(t) for t in tokens]
        return self.token_to_idx.get(tokens, self.unk)

    def to_tokens(self, indices):
        """Token of an index, or a list of tokens for a list/tuple/tensor of indices."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[int(i)] for i in indices]
        return self.idx_to_token[int(indices)]

    @property
    def unk(self) -> int:
        return 0

    @property
    def token_freqs(self) -> list[tuple[str, int]]:
        """``(token, count)`` pairs, most frequent first (all tokens, before ``min_freq``)."""
        return self._token_freqs


def load_corpus_time_machine(max_tokens: int = -1) -> tuple[list[int], Vocab]:
    """Character indices of *The Time Machine* (the first ``max_tokens`` when > 0) and their Vocab."""
    checks.count_or_all("max_tokens", max_tokens)
    tokens = tokenize(read_time_machine(), "char")
    vocab = Vocab(tokens)
    corpus = [vocab[tok] for line in tokens for tok in line]
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


def ngram_ppl(train: Sequence, test: Sequence, n: int, vocab_size: int) -> float:
    """Perplexity on ``test`` of the add-one (Laplace) smoothed n-gram count model fitted on ``train``.

    P(x | the n-1 tokens before it) = (count(context, x) + 1) / (count(context) + vocab_size);
    ``n = 1`` is the unigram model. Every token of ``test`` from the n-th on is scored.
    """
    checks.positive_int("n", n)
    checks.positive_int("vocab_size", vocab_size)
    train, test = list(train), list(test)
    if len(train) < n or len(test) < n:
        raise checks.ArgumentError(checks.bilingual(
            f"train 和 test 都至少要有 n={n} 个词元", f"train and test need at least n={n} tokens each"))
    full = collections.Counter(tuple(train[i:i + n]) for i in range(len(train) - n + 1))
    ctx = collections.Counter(tuple(train[i:i + n - 1]) for i in range(len(train) - n + 1))
    log_probs = [math.log((full[tuple(test[i:i + n])] + 1) / (ctx[tuple(test[i:i + n - 1])] + vocab_size))
                 for i in range(len(test) - n + 1)]
    return math.exp(-sum(log_probs) / len(log_probs))


def seq_data_iter_random(corpus: Sequence[int], batch_size: int,
                         num_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random partitioning: subsequences from a random offset, in random order.

    Neighbouring minibatches are not adjacent in the text. Yields ``(X, Y)`` of shape
    ``(batch_size, num_steps)`` with ``Y`` = ``X`` shifted by one token.
    """
    checks.non_empty("corpus", corpus)
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("num_steps", num_steps)
    corpus = list(corpus[random.randint(0, num_steps - 1):])
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = list(range(0, num_subseqs * num_steps, num_steps))
    random.shuffle(starts)
    for i in range(0, (num_subseqs // batch_size) * batch_size, batch_size):
        batch = starts[i:i + batch_size]
        X = torch.tensor([corpus[j:j + num_steps] for j in batch])
        Y = torch.tensor([corpus[j + 1:j + 1 + num_steps] for j in batch])
        yield X, Y


def seq_data_iter_sequential(corpus: Sequence[int], batch_size: int,
                             num_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential partitioning: row ``i`` of minibatch ``t + 1`` continues row ``i`` of minibatch ``t``.

    Yields ``(X, Y)`` of shape ``(batch_size, num_steps)`` with ``Y`` = ``X`` shifted by one token.
    """
    checks.non_empty("corpus", corpus)
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("num_steps", num_steps)
    offset = random.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = torch.tensor(corpus[offset:offset + num_tokens]).reshape(batch_size, -1)
    Ys = torch.tensor(corpus[offset + 1:offset + 1 + num_tokens]).reshape(batch_size, -1)
    for i in range(0, (Xs.shape[1] // num_steps) * num_steps, num_steps):
        yield Xs[:, i:i + num_steps], Ys[:, i:i + num_steps]


class SeqDataLoader:
    """Iterate over minibatches of *The Time Machine* (a new random offset on every pass).

    The characters used are ``max_tokens`` of them (all when ``max_tokens <= 0``) from ``start`` on.
    """

    def __init__(self, batch_size: int, num_steps: int, use_random_iter: bool = False,
                 max_tokens: int = 10000, start: int = 0) -> None:
        checks.positive_int("batch_size", batch_size)
        checks.positive_int("num_steps", num_steps)
        checks.count_or_all("max_tokens", max_tokens)
        self.data_iter_fn = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
        checks.int_at_least("start", start, 0)
        corpus, self.vocab = load_corpus_time_machine()
        if start >= len(corpus):
            raise checks.ArgumentError(checks.bilingual(
                f"start={start} 超出了语料的长度 {len(corpus)}：请用更小的 start",
                f"start={start} is beyond the corpus ({len(corpus)} characters): use a smaller start"))
        self.corpus = corpus[start:start + max_tokens] if max_tokens > 0 else corpus[start:]
        self.batch_size, self.num_steps = batch_size, num_steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.data_iter_fn(self.corpus, self.batch_size, self.num_steps)


def load_data_time_machine(batch_size: int, num_steps: int, use_random_iter: bool = False,
                           max_tokens: int = 10000, start: int = 0) -> tuple[SeqDataLoader, Vocab]:
    """The minibatch iterator of *The Time Machine* (character level) and its Vocab.

    ``max_tokens`` characters from character ``start`` on; the Vocab is that of the whole book.
    """
    data_iter = SeqDataLoader(batch_size, num_steps, use_random_iter, max_tokens, start)
    return data_iter, data_iter.vocab
