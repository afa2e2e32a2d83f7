"""Recurrent language models: scratch vs built-in, gradient clipping, prediction and train_ch8."""
from __future__ import annotations

import random
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2lutils as d2l


def scratch_rnn(vocab_size, num_hiddens):
    def get_params(vocab_size, num_hiddens, device):
        shapes = [(vocab_size, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,),
                  (num_hiddens, vocab_size), (vocab_size,)]
        return [(torch.randn(s, device=device) * 0.1).requires_grad_() for s in shapes]

    def init_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    def forward_fn(inputs, state, params):
        W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            H = torch.tanh(X @ W_xh + H @ W_hh + b_h)
            outputs.append(H @ W_hq + b_q)
        return torch.cat(outputs, dim=0), (H,)

    return d2l.RNNModelScratch(vocab_size, num_hiddens, torch.device("cpu"), get_params,
                               init_state, forward_fn)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_model_shapes(cls, bidirectional):
    net = d2l.RNNModel(cls(5, 8, num_layers=2, bidirectional=bidirectional), vocab_size=5)
    state = net.begin_state(batch_size=3)
    d = 2 if bidirectional else 1
    first = state[0] if cls is nn.LSTM else state
    assert first.shape == (2 * d, 3, 8)
    Y, new_state = net(torch.randint(0, 5, (3, 7)), state)
    assert Y.shape == (7 * 3, 5)
    assert type(new_state) is type(state)


def test_scratch_matches_builtin_rnn():
    torch.manual_seed(0)
    scratch = scratch_rnn(6, 4)
    W_xh, W_hh, b_h, W_hq, b_q = scratch.params
    net = d2l.RNNModel(nn.RNN(6, 4), 6)
    with torch.no_grad():
        net.rnn.weight_ih_l0.copy_(W_xh.T)
        net.rnn.weight_hh_l0.copy_(W_hh.T)
        net.rnn.bias_ih_l0.copy_(b_h)
        net.rnn.bias_hh_l0.zero_()
        net.linear.weight.copy_(W_hq.T)
        net.linear.bias.copy_(b_q)
    X = torch.randint(0, 6, (2, 5))
    Y1, (H1,) = scratch(X, scratch.begin_state(2, torch.device("cpu")))
    Y2, H2 = net(X, net.begin_state(2))
    torch.testing.assert_close(Y1, Y2)
    torch.testing.assert_close(H1, H2[0])


def test_grad_clipping_scales_to_theta_and_leaves_small_grads():
    net = nn.Linear(3, 2)
    for p in net.parameters():
        p.grad = torch.full_like(p, 10.0)
    norm = d2l.grad_clipping(net, 1.0)
    assert float(norm) == pytest.approx(10.0 * 8 ** 0.5)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters()))
    assert float(total) == pytest.approx(1.0, rel=1e-5)
    d2l.grad_clipping(net, 5.0)  # below the threshold: unchanged
    total2 = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters()))
    assert float(total2) == pytest.approx(1.0, rel=1e-5)
    scratch = scratch_rnn(4, 3)
    for p in scratch.params:
        p.grad = torch.ones_like(p) * 3
    d2l.grad_clipping(scratch, 0.5)
    assert float(torch.sqrt(sum((p.grad ** 2).sum() for p in scratch.params))) == pytest.approx(0.5)



class _Loader:
    def __init__(self, corpus, batch_size, num_steps):
        self.corpus, self.batch_size, self.num_steps = corpus, batch_size, num_steps

    def __iter__(self):
        return d2l.seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps)


def _toy():
    text = "the time traveller said " * 20
    vocab = d2l.Vocab(list(text))
    return _Loader(vocab[list(text)], 4, 12), vocab


def test_predict_ch8_format():
    _, vocab = _toy()
    net = d2l.RNNModel(nn.GRU(len(vocab), 8), len(vocab))
    out = d2l.predict_ch8("time", 6, net, vocab, torch.device("cpu"))
    assert isinstance(out, str) and out.startswith("time") and len(out) >= 10


def test_train_ch8_concise_learns_and_prints(capsys, one_thread):
    torch.manual_seed(0)
    random.seed(0)
    train_iter, vocab = _toy()
    net = d2l.RNNModel(nn.GRU(len(vocab), 32), len(vocab))
    hist = d2l.train_ch8(net, train_iter, vocab, 2.0, 12, "cpu", animate=False, progress=False)
    assert len(hist.perplexity) == 12
    assert hist.perplexity[0] > 5 and hist.final < 1.5  # 13 symbols; a periodic text is predictable
    assert hist.samples["time traveller"].startswith("time traveller said the time")
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"困惑度 \d+\.\d, \d+\.\d 词元/秒 \(cpu\)", out[0])
    assert out[1].startswith("time traveller") and out[2].startswith("traveller") and len(out) == 3


def test_train_ch8_scratch_random_iter_learns(one_thread):
    torch.manual_seed(0)
    random.seed(0)
    text = "the time traveller said " * 20
    vocab = d2l.Vocab(list(text))

    class RandomLoader(_Loader):
        def __iter__(self):
            return d2l.seq_data_iter_random(self.corpus, self.batch_size, self.num_steps)

    net = scratch_rnn(len(vocab), 32)
    hist = d2l.train_ch8(net, RandomLoader(vocab[list(text)], 4, 12), vocab, 1.0, 15, "cpu",
                         use_random_iter=True, animate=False, progress=False)
    assert hist.final < hist.perplexity[0] / 3 and hist.tokens_per_sec > 0


def test_train_ch8_one_epoch_animated_without_warnings(one_thread):
    import warnings
    torch.manual_seed(0)
    random.seed(0)
    train_iter, vocab = _toy()
    net = d2l.RNNModel(nn.LSTM(len(vocab), 8), len(vocab))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = d2l.train_ch8(net, train_iter, vocab, 1.0, 1, "cpu", progress=False)
    assert len(hist.perplexity) == 1 and hist.seconds > 0


def test_train_ch8_records_validation_and_gradient_norms(capsys, one_thread):
    torch.manual_seed(0)
    random.seed(0)
    train_iter, vocab = _toy()
    net = d2l.RNNModel(nn.GRU(len(vocab), 16), len(vocab))
    rng = random.getstate()
    before = d2l.evaluate_ppl_ch8(net, train_iter, "cpu")
    assert random.getstate() == rng  # evaluating leaves the training run's random stream alone
    hist = d2l.train_ch8(net, train_iter, vocab, 2.0, 10, "cpu", animate=False, progress=False,
                         valid_iter=train_iter)
    assert hist.valid_epochs[-1] == 10 and len(hist.valid_perplexity) == len(hist.valid_epochs)
    assert hist.valid_final < before / 2
    assert hist.valid_final == pytest.approx(d2l.evaluate_ppl_ch8(net, train_iter, "cpu"))
    assert len(hist.grad_norms) == 10 * sum(1 for _ in train_iter)
    assert 0 <= hist.clipped_steps <= len(hist.grad_norms)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"困惑度 \d+\.\d, \d+\.\d 词元/秒 \(cpu\)", out[0])
    assert out[-1].startswith("验证困惑度 ") and len(out) == 4


def test_train_ch8_curve_speaks_chinese(one_thread):
    from d2lutils import plotting
    labels = []
    init = plotting.Animator.__init__

    def spy(self, *args, **kwargs):
        labels.append(kwargs)
        init(self, *args, **kwargs)

    plotting.Animator.__init__ = spy
    try:
        train_iter, vocab = _toy()
        net = d2l.RNNModel(nn.RNN(len(vocab), 4), len(vocab))
        d2l.train_ch8(net, train_iter, vocab, 1.0, 1, "cpu", progress=False, valid_iter=train_iter)
    finally:
        plotting.Animator.__init__ = init
    assert labels[0]["xlabel"] == "轮" and labels[0]["ylabel"] == "困惑度"
    assert labels[0]["legend"] == ["训练", "验证"]


def test_sample_word_stats():
    known = {"the", "time", "machine", "is", "a"}
    assert d2l.sample_word_stats("time traveller the time machine is a gre", known) == (1.0, 1)
    share, run = d2l.sample_word_stats("time travellerthe the the xq the", known)
    assert share == pytest.approx(3 / 4) and run == 3  # the last word may be cut off: not counted
    assert d2l.sample_word_stats("time traveller", known) == (0.0, 0)
