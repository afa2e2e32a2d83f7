"""d2lutils.seq2seq: fra-eng preprocessing, the GRU encoder–decoder, masked loss, training and BLEU."""
import math

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

import d2lutils as d2l  # noqa: E402


def test_preprocess_tokenize_truncate_pad():
    raw = "Go.\tVa !\nHi,you!\tSalut\u202f!\nWhy?\tPourquoi\xa0?"
    text = d2l.preprocess_nmt(raw)
    assert text == "go .\tva !\nhi ,you !\tsalut !\nwhy ?\tpourquoi ?"
    assert d2l.preprocess_nmt(text) == text  # idempotent
    src, tgt = d2l.tokenize_nmt(text)
    assert src == [["go", "."], ["hi", ",you", "!"], ["why", "?"]]
    assert tgt[1] == ["salut", "!"]
    assert d2l.tokenize_nmt(text, num_examples=2)[0] == src[:2]
    assert d2l.truncate_pad([5, 6], 4, 0) == [5, 6, 0, 0]
    assert d2l.truncate_pad([1, 2, 3, 4, 5], 3, 0) == [1, 2, 3]


def test_preprocess_turns_every_unicode_space_into_one_space():
    # U+2009 thin space (fra.txt: "Recule\u2009!"), U+202F, U+00A0, U+3000; tab and newline stay.
    raw = "Back off!\tRecule\u2009!\nOK\u202f\u00a0?\tD'accord\u3000!"
    text = d2l.preprocess_nmt(raw)
    assert text == "back off !\trecule !\nok ?\td'accord !"
    assert not any(ch.isspace() and ch not in " \t\n" for ch in text)
    assert d2l.tokenize_nmt(text)[1][0] == ["recule", "!"]


def test_build_array_nmt():
    lines = [["a", "b"], ["b", "c", "d", "a"]]
    vocab = d2l.Vocab(lines, reserved_tokens=["<pad>", "<bos>", "<eos>"])
    array, valid = d2l.build_array_nmt(lines, vocab, 4)
    assert array.shape == (2, 4) and array.dtype == torch.long
    assert array[0].tolist() == [vocab["a"], vocab["b"], vocab["<eos>"], vocab["<pad>"]]
    assert array[1].tolist() == vocab[["b", "c", "d", "a"]]  # truncated: no room for <eos>
    assert valid.tolist() == [3, 4]


def test_load_data_nmt():
    try:
        data_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size=8, num_steps=6, num_examples=100)
    except d2l.DataUnavailableError:
        pytest.skip("fra-eng.zip not available")
    X, X_valid, Y, Y_valid = next(iter(data_iter))
    assert X.shape == (8, 6) and Y.shape == (8, 6)
    assert torch.all((X_valid >= 1) & (X_valid <= 6))
    for v in (src_vocab, tgt_vocab):
        assert v.to_tokens([0, 1, 2, 3]) == ["<unk>", "<pad>", "<bos>", "<eos>"]
    assert src_vocab["go"] != src_vocab.unk and tgt_vocab["va"] != tgt_vocab.unk
    # min_freq=1 keeps every word: no target token is <unk>
    _, _, tgt_all = d2l.load_data_nmt(batch_size=8, num_steps=6, num_examples=100, min_freq=1)
    assert len(tgt_all) > len(tgt_vocab)


def test_sequence_mask():
    X = torch.ones(2, 3, 2)
    out = d2l.sequence_mask(X, torch.tensor([1, 2]), value=-1)
    assert out[0, :, 0].tolist() == [1, -1, -1] and out[1, :, 1].tolist() == [1, 1, -1]


def test_masked_loss_matches_cross_entropy_on_valid_tokens():
    torch.manual_seed(0)
    pred, label = torch.randn(2, 4, 7), torch.randint(0, 7, (2, 4))
    valid = torch.tensor([4, 2])
    l = d2l.MaskedSoftmaxCELoss()(pred, label, valid)
    ce = nn.functional.cross_entropy
    assert l[0] == pytest.approx(float(ce(pred[0], label[0], reduction="sum")) / 4, rel=1e-5)
    assert l[1] == pytest.approx(float(ce(pred[1, :2], label[1, :2], reduction="sum")) / 4, rel=1e-5)
    assert d2l.MaskedSoftmaxCELoss()(pred, label, torch.tensor([0, 0])).abs().sum() == 0


def test_encoder_decoder_shapes_and_context():
    enc = d2l.Seq2SeqEncoder(10, 8, 16, 2).eval()
    dec = d2l.Seq2SeqDecoder(12, 8, 16, 2).eval()
    X = torch.zeros(4, 7, dtype=torch.long)
    outputs, state = enc(X)
    assert outputs.shape == (7, 4, 16) and state.shape == (2, 4, 16)
    Y, new_state = d2l.EncoderDecoder(enc, dec)(X, torch.zeros(4, 5, dtype=torch.long))
    assert Y.shape == (4, 5, 12) and new_state[1].shape == (2, 4, 16)
    # Step-by-step decoding gives the same logits as decoding the whole sequence at once.
    dec_X = torch.randint(0, 12, (4, 5))
    full, _ = dec(dec_X, dec.init_state((outputs, state)))
    s = dec.init_state((outputs, state))
    steps = []
    for t in range(5):
        y, s = dec(dec_X[:, t:t + 1], s)
        steps.append(y)
    assert torch.allclose(full, torch.cat(steps, 1), atol=1e-5)
    assert dec.attention_weights is None


def _copy_task(n=64, seed=0):
    """Translate 'a b c' into the same letters in capitals: a tiny task that a seq2seq learns fast."""
    g = torch.Generator().manual_seed(seed)
    letters = list("abcde")
    src = [[letters[i] for i in torch.randint(0, 5, (3,), generator=g)] for _ in range(n)]
    tgt = [[w.upper() for w in s] for s in src]
    reserved = ["<pad>", "<bos>", "<eos>"]
    sv, tv = d2l.Vocab(src, reserved_tokens=reserved), d2l.Vocab(tgt, reserved_tokens=reserved)
    Xa, Xv = d2l.build_array_nmt(src, sv, 5)
    Ya, Yv = d2l.build_array_nmt(tgt, tv, 5)
    return d2l.load_array((Xa, Xv, Ya, Yv), 64), sv, tv



def test_train_predict_and_summary(capsys, one_thread):
    torch.manual_seed(0)
    data_iter, sv, tv = _copy_task()
    net = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(len(sv), 16, 32, 1), d2l.Seq2SeqDecoder(len(tv), 16, 32, 1))
    history = d2l.train_seq2seq(net, data_iter, 0.02, 40, tv, "cpu", animate=False)
    assert len(history.train_loss) == 40
    assert history.train_loss[0] > 1.5 and history.train_loss[-1] < 0.3
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("损失 ") and line.endswith("词元/秒 (cpu)")
    pred, attn = d2l.predict_seq2seq(net, "b a d", sv, tv, 5, "cpu", save_attention_weights=True)
    assert pred == "B A D"
    assert attn and all(a is None for a in attn)
    assert not net.training


def test_bleu():
    assert d2l.bleu("il est calme .", "il est calme .", k=2) == pytest.approx(1.0)
    assert d2l.bleu("x y", "il est calme .", k=2) == 0.0
    assert d2l.bleu("il", "il est calme .", k=2) == 0.0  # too short for a bigram
    assert d2l.bleu("", "va !", k=2) == 0.0
    # 'il est bon .': p1 = 3/4, p2 = 1/3, no brevity penalty (same length).
    assert d2l.bleu("il est bon .", "il est calme .", k=2) == pytest.approx(0.75 ** 0.5 * (1 / 3) ** 0.25)
    # Too short: BP = exp(1 - 4/2); clipped counts: 'il il' matches 'il' once.
    assert d2l.bleu("il est", "il est calme .", k=1) == pytest.approx(math.exp(-1.0))
    assert d2l.bleu("il il", "il est calme .", k=1) == pytest.approx(math.exp(-1.0) * 0.5 ** 0.5)
