"""Text preprocessing and the two minibatch samplers of the recurrent-network chapters."""
from __future__ import annotations

import random

import pytest
import torch

import d2lutils as d2l


def test_tokenize_and_count():
    lines = ["the cat sat", "the dog"]
    assert d2l.tokenize(lines) == [["the", "cat", "sat"], ["the", "dog"]]
    assert d2l.tokenize(["ab c"], "char") == [["a", "b", " ", "c"]]
    with pytest.raises(ValueError):
        d2l.tokenize(lines, "byte")
    counts = d2l.count_corpus(d2l.tokenize(lines))
    assert counts["the"] == 2 and counts["dog"] == 1
    assert d2l.count_corpus(["a", "b", "a"])["a"] == 2  # flat lists work too


def test_vocab_order_unknown_and_reserved():
    tokens = [["b", "a", "a"], ["c", "a", "b"]]
    vocab = d2l.Vocab(tokens, reserved_tokens=["<pad>"])
    assert vocab.idx_to_token == ["<unk>", "<pad>", "a", "b", "c"]
    assert vocab["a"] == 2 and vocab["zzz"] == vocab.unk == 0
    assert vocab[["c", "a", "nope"]] == [4, 2, 0]
    assert vocab.to_tokens([2, 3]) == ["a", "b"] and vocab.to_tokens(4) == "c"
    assert vocab.to_tokens(torch.tensor([1, 0])) == ["<pad>", "<unk>"]
    assert vocab.token_freqs[0] == ("a", 3) and len(vocab) == 5
    assert len(d2l.Vocab(tokens, min_freq=2)) == 3  # <unk>, a, b
    assert len(d2l.Vocab()) == 1


def test_vocab_of_ngrams():
    words = "a b a b a c".split()
    bigrams = list(zip(words[:-1], words[1:]))
    vocab = d2l.Vocab(bigrams)
    assert vocab.token_freqs[0] == (("a", "b"), 2) and len(vocab) == 4
    assert vocab[("a", "b")] == 1 and vocab[[("b", "a"), ("x", "y")]] == [2, 0]


def test_time_machine_corpus():
    lines = d2l.read_time_machine()
    assert lines[0] == "the time machine by h g wells"
    assert all(set(line) <= set("abcdefghijklmnopqrstuvwxyz ") for line in lines)
    corpus, vocab = d2l.load_corpus_time_machine()
    assert len(vocab) == 28 and vocab.idx_to_token[:3] == ["<unk>", " ", "e"]
    assert len(corpus) == 170580
    corpus, _ = d2l.load_corpus_time_machine(max_tokens=1000)
    assert len(corpus) == 1000


def test_seq_data_iter_random_covers_disjoint_shifted_windows():
    random.seed(0)
    corpus = list(range(35))
    batches = list(d2l.seq_data_iter_random(corpus, batch_size=2, num_steps=5))
    assert len(batches) == 3  # floor((35 - offset - 1) / 5) >= 6 subsequences -> 3 batches of 2
    starts = []
    for X, Y in batches:
        assert X.shape == Y.shape == (2, 5)
        assert torch.equal(Y, X + 1)
        assert torch.equal(X[:, 1:] - X[:, :-1], torch.ones(2, 4, dtype=X.dtype))
        starts += X[:, 0].tolist()
    assert len(set(starts)) == 6 and len({s % 5 for s in starts}) == 1  # same offset, no overlap


def test_seq_data_iter_sequential_continues_rows():
    random.seed(1)
    corpus = list(range(35))
    batches = list(d2l.seq_data_iter_sequential(corpus, batch_size=2, num_steps=5))
    assert len(batches) >= 3
    for (X0, _), (X1, _) in zip(batches, batches[1:]):
        assert torch.equal(X1[:, 0], X0[:, -1] + 1)  # row i of the next batch continues row i
    for X, Y in batches:
        assert torch.equal(Y, X + 1)


def test_load_data_time_machine():
    random.seed(0)
    train_iter, vocab = d2l.load_data_time_machine(4, 10, max_tokens=500)
    X, Y = next(iter(train_iter))
    assert X.shape == Y.shape == (4, 10) and X.dtype == torch.int64
    assert torch.equal(X[:, 1:], Y[:, :-1])
    text = "".join(vocab.to_tokens(X[0]))
    assert text in "".join(vocab.to_tokens(train_iter.corpus))
    train_iter, _ = d2l.load_data_time_machine(4, 10, use_random_iter=True, max_tokens=500)
    assert len(list(train_iter)) == 12  # 49 windows of 10 whatever the offset, 4 per batch


def test_ngram_ppl_by_hand():
    train, test = list("abab"), list("ab")
    # unigram: P(a) = (2 + 1) / (4 + 3), P(b) the same
    assert d2l.ngram_ppl(train, test, 1, 3) == pytest.approx(7 / 3)
    # bigram: P(b | a) = (count(ab) + 1) / (count(a, followed) + 3) = 3 / 5
    assert d2l.ngram_ppl(train, test, 2, 3) == pytest.approx(5 / 3)
    with pytest.raises(ValueError):
        d2l.ngram_ppl(train, ["a"], 2, 3)


def test_load_data_time_machine_start_gives_unseen_text():
    train_iter, vocab = d2l.load_data_time_machine(4, 5, max_tokens=100)
    new_iter, vocab2 = d2l.load_data_time_machine(4, 5, max_tokens=100, start=100)
    corpus, _ = d2l.load_corpus_time_machine()
    assert train_iter.corpus == corpus[:100] and new_iter.corpus == corpus[100:200]
    assert vocab.idx_to_token == vocab2.idx_to_token
    with pytest.raises(ValueError):
        d2l.load_data_time_machine(4, 5, start=len(corpus))
