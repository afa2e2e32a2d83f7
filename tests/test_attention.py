"""d2lutils.attention: masked softmax, scoring functions, multi-head attention, Transformer blocks."""
import math

import matplotlib
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")  # every test here: tiny tensors
import torch
from torch import nn
from torch.nn import functional as F

matplotlib.use("Agg")

import d2lutils as d2l  # noqa: E402



def test_masked_softmax_ignores_padding():
    X = torch.randn(2, 3, 5)
    P = d2l.masked_softmax(X, torch.tensor([2, 4]))
    assert torch.allclose(P.sum(-1), torch.ones(2, 3))
    assert torch.all(P[0, :, 2:] == 0) and torch.all(P[1, :, 4:] == 0)
    P2 = d2l.masked_softmax(X, torch.tensor([[1, 2, 3], [5, 5, 1]]))
    assert torch.all(P2[0, 0, 1:] == 0) and torch.allclose(P2[1, 0], torch.softmax(X[1, 0], -1))
    assert torch.allclose(d2l.masked_softmax(X, None), torch.softmax(X, -1))


def test_dot_product_attention_matches_torch():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 4)
    valid = torch.tensor([2, 6])
    attn = d2l.DotProductAttention(0.0).eval()
    mask = torch.arange(6)[None, None, :] < valid[:, None, None]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(attn(q, k, v, valid), ref, atol=1e-5)


def test_additive_attention_weights_and_shape():
    attn = d2l.AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.0).eval()
    out = attn(torch.randn(2, 1, 20), torch.ones(2, 10, 2), torch.randn(2, 10, 4), torch.tensor([2, 6]))
    assert out.shape == (2, 1, 4)
    # identical keys -> uniform weights over the valid ones
    assert torch.allclose(attn.attention_weights[0, 0, :2], torch.full((2,), 0.5))
    assert torch.allclose(attn.attention_weights[1, 0, :6], torch.full((6,), 1 / 6))


def test_transpose_qkv_roundtrip():
    X = torch.randn(2, 5, 12)
    Y = d2l.transpose_qkv(X, 3)
    assert Y.shape == (6, 5, 4)
    assert torch.equal(d2l.transpose_output(Y, 3), X)


def test_multihead_attention_matches_nn_multiheadattention():
    torch.manual_seed(0)
    d, h = 16, 4
    ours = d2l.MultiHeadAttention(d, d, d, d, h, 0.0).eval()
    ref = nn.MultiheadAttention(d, h, bias=False, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
        ref.out_proj.weight.copy_(ours.W_o.weight)
    q, kv = torch.randn(2, 3, d), torch.randn(2, 7, d)
    valid = torch.tensor([3, 7])
    pad = torch.arange(7)[None, :] >= valid[:, None]
    expected, _ = ref(q, kv, kv, key_padding_mask=pad)
    assert torch.allclose(ours(q, kv, kv, valid), expected, atol=1e-5)


def test_positional_encoding_values():
    pe = d2l.PositionalEncoding(8, 0.0).eval()
    P = pe.P[0]
    assert torch.allclose(P[3, 0], torch.tensor(math.sin(3.0)))
    assert torch.allclose(P[3, 3], torch.tensor(math.cos(3.0 / 10000 ** (2 / 8))))
    assert torch.allclose(pe(torch.zeros(1, 5, 8)), P[:5][None])


def test_transformer_encoder_decoder_shapes_and_causality():
    torch.manual_seed(0)
    kw = dict(key_size=8, query_size=8, value_size=8, num_hiddens=8, norm_shape=[8], ffn_num_input=8,
              ffn_num_hiddens=16, num_heads=2, num_layers=2, dropout=0.0)
    enc = d2l.TransformerEncoder(20, **kw)
    dec = d2l.TransformerDecoder(30, **kw)
    X, valid = torch.randint(0, 20, (2, 6)), torch.tensor([3, 6])
    enc_out = enc(X, valid)
    assert enc_out.shape == (2, 6, 8) and len(enc.attention_weights) == 2
    Y = torch.randint(0, 30, (2, 5))
    out, _ = dec(Y, dec.init_state(enc_out, valid))
    assert out.shape == (2, 5, 30)
    # training mode: changing a later target token must not change earlier outputs
    Y2 = Y.clone()
    Y2[:, 4] = (Y2[:, 4] + 1) % 30
    out2, _ = dec(Y2, dec.init_state(enc_out, valid))
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-6)
    # prediction (eval mode) feeds one step at a time with the key cache; it must equal the
    # parallel forward of training mode with its causal mask (dropout is 0)
    dec.eval()
    with torch.no_grad():
        state = dec.init_state(enc_out, valid)
        steps = torch.cat([dec(Y[:, t:t + 1], state)[0] for t in range(5)], dim=1)
    assert torch.allclose(steps, out.detach(), atol=1e-5)


def test_show_heatmaps_returns_figure():
    fig = d2l.show_heatmaps(torch.rand(1, 2, 3, 4), "键", "查询", titles=["a", "b"])
    assert len(fig.axes) == 3
    matplotlib.pyplot.close(fig)
