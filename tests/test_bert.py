"""d2lutils.bert: input representation, model heads, pretraining data and losses, pair datasets."""
import random

import pytest
import torch
from torch import nn

import d2lutils as d2l
from d2lutils import bert as B

SMALL = dict(num_hiddens=16, norm_shape=[16], ffn_num_input=16, ffn_num_hiddens=32, num_heads=2,
             num_layers=1, dropout=0.0, key_size=16, query_size=16, value_size=16,
             hid_in_features=16, mlm_in_features=16, nsp_in_features=16)


def test_tokens_and_segments():
    tokens, segments = d2l.get_tokens_and_segments(["a", "b"], ["c"])
    assert tokens == ["<cls>", "a", "b", "<sep>", "c", "<sep>"]
    assert segments == [0, 0, 0, 0, 1, 1]
    assert d2l.get_tokens_and_segments(["a"]) == (["<cls>", "a", "<sep>"], [0, 0, 0])


def test_model_shapes_and_masklm_gathers_positions():
    torch.manual_seed(0)
    net = d2l.BERTModel(50, **SMALL).eval()
    tokens = torch.randint(0, 50, (2, 7))
    segments = torch.zeros(2, 7, dtype=torch.long)
    pos = torch.tensor([[1, 5, 2], [6, 1, 5]])
    enc, mlm, nsp = net(tokens, segments, torch.tensor([7, 4]), pos)
    assert enc.shape == (2, 7, 16) and mlm.shape == (2, 3, 50) and nsp.shape == (2, 2)
    assert torch.allclose(mlm[1, 0], net.mlm.mlp(enc[1, 6]), atol=1e-6)
    _, none_mlm, _ = net(tokens, segments)
    assert none_mlm is None


def test_pretraining_dataset_and_loss():
    words = [f"w{i}" for i in range(12)]
    rng = random.Random(0)
    paragraphs = [[" ".join(rng.choice(words) for _ in range(6)) for _ in range(3)] for _ in range(30)]
    data = d2l.WikiTextDataset(paragraphs, max_len=20, seed=0)
    assert B._WikiTextDataset is d2l.WikiTextDataset          # the earlier private name still works
    tokens, segments, valid_lens, pos, weights, labels, nsp = data.tensors
    assert tokens.shape == (len(data), 20) and pos.shape == (len(data), 3)
    assert 0.2 < nsp.float().mean() < 0.8                       # about half are true next sentences
    assert torch.all(weights.sum(1) == 2)                       # round(15 * 0.15) = 2 predictions
    # the labels are the original tokens; <cls>/<sep> are never predicted
    special = {data.vocab["<cls>"], data.vocab["<sep>"]}
    assert all(int(l) not in special for l in labels[weights > 0])
    net = d2l.BERTModel(len(data.vocab), **SMALL)
    loss = nn.CrossEntropyLoss(reduction="none")
    batch = [t[:8] for t in data.tensors]
    mlm_l, nsp_l, l = d2l._get_batch_loss_bert(net, loss, len(data.vocab), *batch)
    assert torch.isclose(l, mlm_l + nsp_l)
    # padded prediction slots (weight 0) do not change the MLM loss
    batch2 = [t.clone() for t in batch]
    batch2[3] = torch.cat([batch2[3], torch.zeros(8, 2, dtype=torch.long)], 1)
    batch2[4] = torch.cat([batch2[4], torch.zeros(8, 2)], 1)
    batch2[5] = torch.cat([batch2[5], torch.full((8, 2), 7)], 1)
    torch.manual_seed(1)
    net.eval()
    a = d2l._get_batch_loss_bert(net, loss, len(data.vocab), *batch)[0]
    b = d2l._get_batch_loss_bert(net, loss, len(data.vocab), *batch2)[0]
    assert torch.isclose(a, b, atol=1e-5)



def test_train_bert_reduces_mlm_loss(one_thread):
    torch.manual_seed(0)
    words = [f"w{i}" for i in range(8)]
    rng = random.Random(0)
    paragraphs = [[" ".join(rng.choice(words[:4]) for _ in range(5)) for _ in range(3)] for _ in range(40)]
    data = B._WikiTextDataset(paragraphs, max_len=16, seed=0)
    it = d2l.ArrayLoader(data.tensors, 16, shuffle=True, seed=0)
    net = d2l.BERTModel(len(data.vocab), **SMALL)
    h = d2l.train_bert(it, net, nn.CrossEntropyLoss(reduction="none"), len(data.vocab), torch.device("cpu"),
                       20, 0.01, animate=False)
    assert len(h.mlm_loss) == 20
    assert sum(h.mlm_loss[-5:]) / 5 < h.mlm_loss[0] - 0.5


def test_pair_dataset_truncates_and_pads():
    vocab = d2l.Vocab([["a", "b", "c"]], reserved_tokens=B.RESERVED_TOKENS)
    ds = d2l.SNLIBERTDataset((["a b c a b c", "a"], ["b", "c c"], [1, 0]), max_len=8, vocab=vocab)
    (tokens, segments, valid_len), label = ds[0]
    assert int(valid_len) == 8 and int(label) == 1
    assert vocab.to_tokens(tokens) == ["<cls>", "a", "b", "c", "a", "<sep>", "b", "<sep>"]
    assert segments.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    (tokens, segments, valid_len), _ = ds[1]
    assert int(valid_len) == 6 and vocab.to_tokens(tokens[6:]) == ["<pad>", "<pad>"]


def test_wikitext_train_split_needs_the_archive(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))

    def fail(*args, **kwargs):
        raise OSError("offline")
    import pooch
    monkeypatch.setattr(pooch, "retrieve", fail)
    with pytest.raises(d2l.DataUnavailableError):
        d2l.wikitext2_file("train")
    with pytest.raises(ValueError):
        d2l.wikitext2_file("dev")
