"""BERT (lectures 69–70): input representation, encoder, MLM/NSP heads, WikiText-2 pretraining data,
the pretraining loop, and sentence-pair datasets for fine-tuning (SNLI's loader included).

WikiText-2's train split and SNLI are downloaded from their real URLs (checked by the sha1 that d2l
publishes) when the network allows; the book's ``data/`` folder has only WikiText-2's valid and test
splits (``wikitext-2-partial/``), which ``load_data_wiki(..., splits=("valid", "test"))`` uses.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from . import cache, checks
from .arrays import ArrayLoader
from .attention import EncoderBlock
from .hub import DataUnavailableError, cache_dir, fetch, retrieve
from .plotting import Animator
from .text import Vocab, tokenize
from .utils import Timer

WIKITEXT2_URL = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"
WIKITEXT2_SHA1 = "3c914d17d80b1459be871a5039ac23e752a53cbe"
SNLI_URL = "https://nlp.stanford.edu/projects/snli/snli_1.0.zip"
SNLI_SHA1 = "9fcde07509c7e87ec61c640c1b2753d9041758e4"
RESERVED_TOKENS = ["<pad>", "<mask>", "<cls>", "<sep>"]


# ------------------------------------------------------------------------------------------ model
def get_tokens_and_segments(tokens_a: list[str], tokens_b: Optional[list[str]] = None
                            ) -> tuple[list[str], list[int]]:
    """``<cls> a <sep>`` (segment 0) followed by ``b <sep>`` (segment 1) when ``tokens_b`` is given."""
    tokens = ["<cls>"] + list(tokens_a) + ["<sep>"]
    segments = [0] * len(tokens)
    if tokens_b is not None:
        tokens += list(tokens_b) + ["<sep>"]
        segments += [1] * (len(tokens_b) + 1)
    return tokens, segments


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        checks.positive_int(name, value)


class BERTEncoder(nn.Module):
    """Token + segment + learnable position embeddings, then ``num_layers`` Transformer encoder blocks."""

    def __init__(self, vocab_size: int, num_hiddens: int, norm_shape, ffn_num_input: int,
                 ffn_num_hiddens: int, num_heads: int, num_layers: int, dropout: float,
                 max_len: int = 1000, key_size: int = 768, query_size: int = 768,
                 value_size: int = 768, **kwargs):
        _check_sizes(vocab_size=vocab_size, num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers,
                     max_len=max_len, key_size=key_size, query_size=query_size, value_size=value_size)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        super().__init__(**kwargs)
        self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
        self.segment_embedding = nn.Embedding(2, num_hiddens)
        self.blks = nn.Sequential(*[
            EncoderBlock(key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                         ffn_num_hiddens, num_heads, dropout, True)
            for _ in range(num_layers)])
        self.pos_embedding = nn.Parameter(torch.randn(1, max_len, num_hiddens))

    def forward(self, tokens, segments, valid_lens):
        X = self.token_embedding(tokens) + self.segment_embedding(segments)
        X = X + self.pos_embedding[:, : X.shape[1], :]
        for blk in self.blks:
            X = blk(X, valid_lens)
        return X


class MaskLM(nn.Module):
    """Masked language model head: predict the tokens at ``pred_positions``."""

    def __init__(self, vocab_size: int, num_hiddens: int, num_inputs: int = 768, **kwargs):
        _check_sizes(vocab_size=vocab_size, num_hiddens=num_hiddens, num_inputs=num_inputs)
        super().__init__(**kwargs)
        self.mlp = nn.Sequential(nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
                                 nn.LayerNorm(num_hiddens), nn.Linear(num_hiddens, vocab_size))

    def forward(self, X, pred_positions):
        num_pred = pred_positions.shape[1]
        batch_idx = torch.arange(X.shape[0], device=X.device).repeat_interleave(num_pred)
        masked_X = X[batch_idx, pred_positions.reshape(-1)].reshape(X.shape[0], num_pred, -1)
        return self.mlp(masked_X)


class NextSentencePred(nn.Module):
    """Next sentence prediction head: two classes from the ``<cls>`` representation."""

    def __init__(self, num_inputs: int, **kwargs):
        checks.positive_int("num_inputs", num_inputs)
        super().__init__(**kwargs)
        self.output = nn.Linear(num_inputs, 2)

    def forward(self, X):
        return self.output(X)


class BERTModel(nn.Module):
    """BERT encoder with the MLM and NSP heads; ``forward`` returns (encoded_X, mlm_Y_hat, nsp_Y_hat)."""

    def __init__(self, vocab_size: int, num_hiddens: int, norm_shape, ffn_num_input: int,
                 ffn_num_hiddens: int, num_heads: int, num_layers: int, dropout: float,
                 max_len: int = 1000, key_size: int = 768, query_size: int = 768,
                 value_size: int = 768, hid_in_features: int = 768, mlm_in_features: int = 768,
                 nsp_in_features: int = 768):
        _check_sizes(vocab_size=vocab_size, num_hiddens=num_hiddens, ffn_num_input=ffn_num_input,
                     ffn_num_hiddens=ffn_num_hiddens, num_heads=num_heads, num_layers=num_layers,
                     max_len=max_len, key_size=key_size, query_size=query_size, value_size=value_size,
                     hid_in_features=hid_in_features, mlm_in_features=mlm_in_features,
                     nsp_in_features=nsp_in_features)
        checks.shape("norm_shape", norm_shape)
        checks.dropout("dropout", dropout)
        super().__init__()
        self.encoder = BERTEncoder(vocab_size, num_hiddens, norm_shape, ffn_num_input,
                                   ffn_num_hiddens, num_heads, num_layers, dropout, max_len=max_len,
                                   key_size=key_size, query_size=query_size, value_size=value_size)
        self.hidden = nn.Sequential(nn.Linear(hid_in_features, num_hiddens), nn.Tanh())
        self.mlm = MaskLM(vocab_size, num_hiddens, mlm_in_features)
        self.nsp = NextSentencePred(nsp_in_features)

    def forward(self, tokens, segments, valid_lens=None, pred_positions=None):
        encoded_X = self.encoder(tokens, segments, valid_lens)
        mlm_Y_hat = self.mlm(encoded_X, pred_positions) if pred_positions is not None else None
        nsp_Y_hat = self.nsp(self.hidden(encoded_X[:, 0, :]))   # from the <cls> token
        return encoded_X, mlm_Y_hat, nsp_Y_hat


# --------------------------------------------------------------------------------- WikiText-2 data
def _download(url: str, sha1: str, fname: str) -> Path:
    """Download ``url`` into the cache (checked by sha1) or raise DataUnavailableError."""
    try:
        return retrieve(url, f"sha1:{sha1}", fname)
    except Exception as err:  # noqa: BLE001 - reported with the reason
        raise DataUnavailableError(
            f"无法下载 {url}（{type(err).__name__}）。Could not download {url}; put {fname} "
            f"(sha1 {sha1}) into {cache_dir()} to use it offline.") from err


def wikitext2_file(split: str) -> Path:
    """Path of WikiText-2's ``split`` (train/valid/test) token file.

    valid and test come from the book's data (``wikitext-2-partial/``); train needs the real archive.
    """
    checks.one_of("split", split, ("train", "valid", "test"))
    if split in ("valid", "test"):
        return fetch(f"wikitext-2-partial/{split}.txt")
    if split != "train":
        raise ValueError(f"unknown split {split!r}: use train, valid or test")
    archive = _download(WIKITEXT2_URL, WIKITEXT2_SHA1, "wikitext-2-v1.zip")
    out = cache_dir() / "extracted" / "wikitext-2" / "wiki.train.tokens"
    # checked against the zip's size and CRC-32: a truncated or foreign copy is extracted again
    cache.extract_members(archive, {"wikitext-2/wiki.train.tokens": out})
    return out


def read_wiki(splits: Sequence[str] = ("train",)) -> list[list[str]]:
    """Paragraphs (lines) with at least two sentences, lower-cased, each split into sentences at ' . '."""
    checks.non_empty("splits", splits)
    for _split in splits:
        checks.one_of("splits", _split, ("train", "valid", "test"))
    paragraphs = []
    for split in splits:
        with open(wikitext2_file(split), encoding="utf-8") as f:
            for line in f:
                sentences = [s.strip() for s in line.strip().lower().split(" . ") if s.strip()]
                if len(sentences) >= 2:
                    paragraphs.append(sentences)
    return paragraphs


def _get_next_sentence(sentence, next_sentence, paragraphs, rng: random.Random):
    if rng.random() < 0.5:
        return sentence, next_sentence, True
    # a random sentence of a random paragraph ("paragraphs" is a list of token lists of sentences)
    return sentence, rng.choice(rng.choice(paragraphs)), False


def _get_nsp_data_from_paragraph(paragraph, paragraphs, max_len: int, rng: random.Random):
    nsp_data = []
    for i in range(len(paragraph) - 1):
        tokens_a, tokens_b, is_next = _get_next_sentence(paragraph[i], paragraph[i + 1], paragraphs, rng)
        if len(tokens_a) + len(tokens_b) + 3 > max_len:   # <cls>, <sep>, <sep>
            continue
        tokens, segments = get_tokens_and_segments(tokens_a, tokens_b)
        nsp_data.append((tokens, segments, is_next))
    return nsp_data


def _replace_mlm_tokens(tokens, candidate_pred_positions, num_mlm_preds, vocab, rng: random.Random):
    """BERT's 80/10/10 rule: <mask>, a random token, or unchanged."""
    mlm_input_tokens = list(tokens)
    pred_positions_and_labels = []
    rng.shuffle(candidate_pred_positions)
    for pos in candidate_pred_positions[:num_mlm_preds]:
        r = rng.random()
        if r < 0.8:
            masked_token = "<mask>"
        elif r < 0.9:
            masked_token = tokens[pos]
        else:
            masked_token = vocab.idx_to_token[rng.randrange(len(vocab))]
        mlm_input_tokens[pos] = masked_token
        pred_positions_and_labels.append((pos, tokens[pos]))
    return mlm_input_tokens, pred_positions_and_labels


def _get_mlm_data_from_tokens(tokens, vocab, rng: random.Random):
    candidates = [i for i, t in enumerate(tokens) if t not in ("<cls>", "<sep>")]
    num_mlm_preds = max(1, round(len(tokens) * 0.15))   # predict 15% of the tokens
    mlm_input_tokens, pairs = _replace_mlm_tokens(tokens, candidates, num_mlm_preds, vocab, rng)
    pairs = sorted(pairs, key=lambda x: x[0])
    return vocab[mlm_input_tokens], [p[0] for p in pairs], vocab[[p[1] for p in pairs]]


def _pad_bert_inputs(examples, max_len: int, vocab):
    max_num_mlm_preds = round(max_len * 0.15)
    pad = vocab["<pad>"]
    cols = [[] for _ in range(7)]
    for token_ids, pred_positions, mlm_pred_label_ids, segments, is_next in examples:
        n, m = len(token_ids), len(pred_positions)
        cols[0].append(token_ids + [pad] * (max_len - n))
        cols[1].append(segments + [0] * (max_len - n))
        cols[2].append(n)
        cols[3].append(pred_positions + [0] * (max_num_mlm_preds - m))
        cols[4].append([1.0] * m + [0.0] * (max_num_mlm_preds - m))   # padded predictions weigh 0
        cols[5].append(mlm_pred_label_ids + [0] * (max_num_mlm_preds - m))
        cols[6].append(int(is_next))
    dtypes = [torch.long, torch.long, torch.float32, torch.long, torch.float32, torch.long, torch.long]
    return [torch.tensor(c, dtype=d) for c, d in zip(cols, dtypes)]


class WikiTextDataset(torch.utils.data.Dataset):
    """Pretraining examples: (tokens, segments, valid_len, pred_positions, mlm_weights, mlm_labels, nsp_label).

    ``paragraphs`` are lists of sentence strings. With ``random.Random(seed)``: first every paragraph's
    NSP pairs (50 % true next sentence), then each pair's MLM positions (15 %, 80/10/10), then padding
    to ``max_len``; the tensors are in ``self.tensors``.
    """

    def __init__(self, paragraphs: list[list[str]], max_len: int, vocab: Optional[Vocab] = None,
                 seed: int = 0):
        checks.non_empty("paragraphs", paragraphs)
        checks.positive_int("max_len", max_len)
        checks.int_at_least("seed", seed, 0)
        rng = random.Random(seed)
        paragraphs = [tokenize(p, token="word") for p in paragraphs]
        sentences = [s for p in paragraphs for s in p]
        self.vocab = vocab or Vocab(sentences, min_freq=5, reserved_tokens=RESERVED_TOKENS)
        examples = []
        for paragraph in paragraphs:
            examples.extend(_get_nsp_data_from_paragraph(paragraph, paragraphs, max_len, rng))
        examples = [_get_mlm_data_from_tokens(tokens, self.vocab, rng) + (segments, is_next)
                    for tokens, segments, is_next in examples]
        self.tensors = _pad_bert_inputs(examples, max_len, self.vocab)

    def __getitem__(self, idx):
        return tuple(t[idx] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


_WikiTextDataset = WikiTextDataset   # the earlier private name


def load_data_wiki(batch_size: int, max_len: int, splits: Sequence[str] = ("train",),
                   vocab: Optional[Vocab] = None, seed: int = 0) -> tuple[ArrayLoader, Vocab]:
    """Minibatches of BERT pretraining examples from WikiText-2 ``splits``, and the vocabulary.

    Paragraphs are shuffled with ``seed``; the vocabulary keeps words seen at least 5 times.
    """
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("max_len", max_len)
    checks.non_empty("splits", splits)
    checks.int_at_least("seed", seed, 0)
    paragraphs = read_wiki(splits)
    random.Random(seed).shuffle(paragraphs)
    data = WikiTextDataset(paragraphs, max_len, vocab, seed)
    return ArrayLoader(data.tensors, batch_size, shuffle=True, seed=seed), data.vocab


# ------------------------------------------------------------------------------------- pretraining
def _get_batch_loss_bert(net: BERTModel, loss, vocab_size: int, tokens_X, segments_X, valid_lens_x,
                         pred_positions_X, mlm_weights_X, mlm_Y, nsp_y):
    """MLM loss (mean over the real predictions), NSP loss (mean) and their sum."""
    _, mlm_Y_hat, nsp_Y_hat = net(tokens_X, segments_X, valid_lens_x.reshape(-1), pred_positions_X)
    mlm_l = loss(mlm_Y_hat.reshape(-1, vocab_size), mlm_Y.reshape(-1)) * mlm_weights_X.reshape(-1)
    mlm_l = mlm_l.sum() / (mlm_weights_X.sum() + 1e-8)
    nsp_l = loss(nsp_Y_hat, nsp_y).mean()
    return mlm_l, nsp_l, mlm_l + nsp_l


@dataclass
class BERTHistory:
    """Per-step MLM and NSP losses of pretraining, and the speed."""

    mlm_loss: list[float] = field(default_factory=list)
    nsp_loss: list[float] = field(default_factory=list)
    pairs_per_sec: float = 0.0
    seconds: float = 0.0
    device: str = "cpu"

    def summary(self) -> str:
        return f"MLM 损失 {self.mlm_loss[-1]:.3f}, NSP 损失 {self.nsp_loss[-1]:.3f}"


def train_bert(train_iter, net: BERTModel, loss, vocab_size: int, devices, num_steps: int,
               lr: float = 0.01, *, animate: bool = True, log_every: int = 1) -> BERTHistory:
    """Pretrain ``net`` with Adam for ``num_steps`` minibatches (MLM + NSP).

    ``devices`` is a device or a list of them (the first is used). Returns a BERTHistory with the
    loss of every step, and prints the final losses and ``… 句子对/秒 (device)``.
    """
    checks.positive_int("vocab_size", vocab_size)
    checks.devices("devices", devices, allow_none=True)
    checks.positive_int("num_steps", num_steps)
    checks.positive_number("lr", lr)
    checks.positive_int("log_every", log_every)
    device = devices[0] if isinstance(devices, (list, tuple)) else devices
    device = torch.device(device) if device is not None else torch.device("cpu")
    net.to(device)
    net.train()
    trainer = torch.optim.Adam(net.parameters(), lr=lr)
    history = BERTHistory(device=str(device))
    animator = Animator(xlabel="步", ylabel="损失", xlim=[1, num_steps],
                        legend=["带掩码的语言模型", "下一句预测"]) if animate else None
    timer = Timer()
    step, n_pairs = 0, 0
    while step < num_steps:
        for batch in train_iter:
            batch = [t.to(device) for t in batch]
            timer.start()
            trainer.zero_grad(set_to_none=True)
            mlm_l, nsp_l, l = _get_batch_loss_bert(net, loss, vocab_size, *batch)
            l.backward()
            trainer.step()
            timer.stop()
            history.mlm_loss.append(mlm_l.item())
            history.nsp_loss.append(nsp_l.item())
            n_pairs += batch[0].shape[0]
            step += 1
            if animator and (step % log_every == 0 or step == num_steps):
                animator.add(step, (history.mlm_loss[-1], history.nsp_loss[-1]))
            if step == num_steps:
                break
    history.seconds = timer.sum()
    history.pairs_per_sec = n_pairs / history.seconds if history.seconds else 0.0
    print(history.summary())
    print(f"{history.pairs_per_sec:.1f} 句子对/秒 ({device})")
    return history


def get_bert_encoding(net: BERTModel, vocab: Vocab, tokens_a: list[str],
                      tokens_b: Optional[list[str]] = None) -> torch.Tensor:
    """BERT's representation of one sentence (pair): (1, len, num_hiddens)."""
    tokens, segments = get_tokens_and_segments(tokens_a, tokens_b)
    device = next(net.parameters()).device
    token_ids = torch.tensor(vocab[tokens], device=device).unsqueeze(0)
    segments = torch.tensor(segments, device=device).unsqueeze(0)
    valid_len = torch.tensor([len(tokens)], device=device)
    encoded_X, _, _ = net(token_ids, segments, valid_len)
    return encoded_X


def _load_cached_weights(net: nn.Module, path: Path) -> bool:
    """Load ``path`` into ``net`` when it holds weights that fit; a damaged or foreign file is removed."""
    if not path.exists():
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in net.state_dict().items()}:
            raise ValueError("weights that do not fit the model")
    except Exception as err:  # noqa: BLE001 - truncated, foreign or unreadable: pretrain again
        cache.discard(path, f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}")
        return False
    net.load_state_dict(state)
    return True


def pretrained_bert(settings: dict, batch_size: int, max_len: int, num_steps: int,
                    splits: Sequence[str] = ("valid", "test"), lr: float = 0.01,
                    device: Optional[torch.device] = None, seed: int = 0, retrain: bool = False
                    ) -> tuple[BERTModel, Vocab, Optional[BERTHistory]]:
    """A BERTModel pretrained on WikiText-2 ``splits``; cached under ``cache_dir()/bert``.

    ``settings`` are BERTModel's keyword arguments except ``vocab_size``. The cache key covers the
    settings, the data and the training schedule; on a miss the model is pretrained (the history is
    returned), on a hit it is loaded (history None). ``retrain=True`` always pretrains and overwrites.
    """
    checks.positive_int("batch_size", batch_size)
    checks.positive_int("max_len", max_len)
    checks.positive_int("num_steps", num_steps)
    checks.non_empty("splits", splits)
    checks.positive_number("lr", lr)
    checks.device("device", device, allow_none=True)
    checks.int_at_least("seed", seed, 0)
    device = device or torch.device("cpu")
    key_src = repr((sorted(settings.items()), batch_size, max_len, num_steps, tuple(splits), lr, seed))
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    path = cache_dir() / "bert" / f"bert-{key}.pt"
    train_iter, vocab = load_data_wiki(batch_size, max_len, splits, seed=seed)
    torch.manual_seed(seed)
    net = BERTModel(len(vocab), **settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with cache.lock(path):  # a second process waits for the first one's file, then loads it
        if not retrain and _load_cached_weights(net, path):
            return net.to(device), vocab, None
        history = train_bert(train_iter, net, nn.CrossEntropyLoss(reduction="none"), len(vocab), device,
                             num_steps, lr, animate=False)
        cache.atomic_write(path, lambda tmp: torch.save(net.state_dict(), tmp))
    return net, vocab, history


# --------------------------------------------------------------------------- fine-tuning datasets
def read_snli(data_dir, is_train: bool) -> tuple[list[str], list[str], list[int]]:
    """SNLI premises, hypotheses and labels (0 entailment, 1 contradiction, 2 neutral)."""
    def clean(s):
        s = re.sub(r"\(", "", s)
        s = re.sub(r"\)", "", s)
        return re.sub(r"\s{2,}", " ", s).strip()
    label_set = {"entailment": 0, "contradiction": 1, "neutral": 2}
    name = Path(data_dir) / ("snli_1.0_train.txt" if is_train else "snli_1.0_test.txt")
    with open(name, encoding="utf-8") as f:
        rows = [line.split("\t") for line in f.readlines()[1:]]
    rows = [r for r in rows if r[0] in label_set]
    return [clean(r[1]) for r in rows], [clean(r[2]) for r in rows], [label_set[r[0]] for r in rows]


def snli_dir() -> Path:
    """Download and unpack SNLI 1.0 (sha1-checked); raises DataUnavailableError without network."""
    archive = _download(SNLI_URL, SNLI_SHA1, "snli_1.0.zip")
    out = cache_dir() / "extracted" / "snli_1.0"
    # checked against the zip's sizes and CRC-32: a truncated or foreign copy is extracted again
    cache.extract_members(archive, {member: out / Path(member).name
                                    for member in ("snli_1.0/snli_1.0_train.txt", "snli_1.0/snli_1.0_test.txt")})
    return out


class SNLIBERTDataset(torch.utils.data.Dataset):
    """Sentence pairs for BERT fine-tuning: ``dataset = (premises, hypotheses, labels)`` as strings.

    Each pair becomes ``<cls> a <sep> b <sep>`` padded to ``max_len``; the longer sentence is
    trimmed first when the pair does not fit. Items are (token_ids, segments, valid_len), label.
    """

    def __init__(self, dataset, max_len: int, vocab: Vocab):
        checks.non_empty("dataset", dataset)
        checks.int_at_least("max_len", max_len, 3)  # <cls>, <sep>, <sep>
        premises, hypotheses, labels = dataset
        pad = vocab["<pad>"]
        tokens, segs, lens = [], [], []
        for a, b in zip(tokenize([s.lower() for s in premises]), tokenize([s.lower() for s in hypotheses])):
            a, b = list(a), list(b)
            while len(a) + len(b) > max_len - 3:
                (a if len(a) > len(b) else b).pop()
            t, s = get_tokens_and_segments(a, b)
            tokens.append(vocab[t] + [pad] * (max_len - len(t)))
            segs.append(s + [0] * (max_len - len(s)))
            lens.append(len(t))
        self.all_token_ids = torch.tensor(tokens, dtype=torch.long)
        self.all_segments = torch.tensor(segs, dtype=torch.long)
        self.valid_lens = torch.tensor(lens)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __getitem__(self, idx):
        return (self.all_token_ids[idx], self.all_segments[idx], self.valid_lens[idx]), self.labels[idx]

    def __len__(self):
        return len(self.all_token_ids)
