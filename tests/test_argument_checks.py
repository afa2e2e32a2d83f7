"""Every public helper of the second half's modules rejects a bad number, an empty list or a device that
does not exist with ``checks.ArgumentError``, whose bilingual message names the argument (issue 33).

The walker finds the helpers and their arguments by introspection (``inspect.signature``, the
annotations and the defaults), so a helper added later without checks fails here. Each call gets
valid values for every other argument (dummies where the checks come first, tiny real values where
needed), and only the probed argument is bad: 0, -1 and NaN for a number, an empty list for a list,
0/-1/NaN items for a list of numbers, a GPU that is not there for a device. Fast: the checks run
before any work.

Exemptions, each with its reason, are the cases where the probed value is legitimate.
"""
from __future__ import annotations

import functools
import inspect
import math
import types

import pytest
import torch
from torch import nn

from d2lutils import (attention, bert, checks, detection, distributed, optim, rnn, segmentation,
                      seq2seq, text, vision)

MODULES = (text, rnn, seq2seq, attention, bert, detection, segmentation, vision, optim, distributed)

# Classes that are results, not inputs: the trainers fill them in and return them.
NOT_INPUTS = {
    "rnn.RNNHistory": "result record filled by train_ch8",
    "seq2seq.Seq2SeqHistory": "result record filled by train_seq2seq",
    "bert.BERTHistory": "result record filled by train_bert",
}

DROPOUT_ZERO = "dropout 0 means no dropout (the usual default)"
SEED_ZERO = "seed 0 is a seed like any other (the book's default)"
EMPTY_SENTENCE = "an empty sentence is a legitimate input (SNLIBERTDataset may trim one to nothing)"
THRESHOLD_ZERO = "a threshold of 0 is the legitimate extreme of [0, 1]"
ALL_TOKENS = "max_tokens=-1 means the whole book (d2l's convention)"

# (helper, argument) -> {probe: reason}: the probed value is legitimate there.
EXEMPT: dict[tuple[str, str], dict[str, str]] = {
    ("text.seq_data_iter_random", "corpus"): {
        p: "corpus items are token indices (0 is <unk>); checking each index of a whole book is left "
           "to the tensor conversion" for p in ("items 0", "items -1", "items nan")},
    ("text.seq_data_iter_sequential", "corpus"): {
        p: "as for seq_data_iter_random" for p in ("items 0", "items -1", "items nan")},
    ("text.SeqDataLoader", "start"): {"0": "start=0 reads from the beginning of the book (the default)"},
    ("text.load_data_time_machine", "start"): {"0": "start=0 reads from the beginning of the book (the default)"},
    ("rnn.train_epoch_ch8", "grad_norms"): {"empty": "an output list: the helper appends each step's norm to it"},
    ("seq2seq.load_data_nmt", "min_freq"): {"0": "min_freq=0 keeps every token"},
    ("text.count_corpus", "tokens"): {"empty": "Vocab() counts an empty corpus: a vocabulary of reserved tokens only"},
    ("text.Vocab", "min_freq"): {"0": "min_freq=0 keeps every token (the default)"},
    ("text.Vocab", "reserved_tokens"): {"empty": "no reserved tokens, the same as None"},
    ("text.load_corpus_time_machine", "max_tokens"): {"-1": ALL_TOKENS},
    ("text.SeqDataLoader", "max_tokens"): {"-1": ALL_TOKENS},
    ("text.load_data_time_machine", "max_tokens"): {"-1": ALL_TOKENS},
    ("seq2seq.truncate_pad", "line"): {"empty": "an empty sentence becomes all padding"},
    ("seq2seq.sequence_mask", "value"): {"0": "the fill value for masked entries may be any real number",
                                         "-1": "the fill value for masked entries may be any real number"},
    ("attention.DecoderBlock", "i"): {"0": "i is the block's index; 0 is the first block"},
    ("bert.get_tokens_and_segments", "tokens_a"): {"empty": EMPTY_SENTENCE},
    ("bert.get_tokens_and_segments", "tokens_b"): {"empty": EMPTY_SENTENCE},
    ("bert.get_bert_encoding", "tokens_a"): {"empty": EMPTY_SENTENCE},
    ("bert.get_bert_encoding", "tokens_b"): {"empty": EMPTY_SENTENCE},
    ("detection.show_bboxes", "labels"): {"empty": "no labels, the same as None"},
    ("detection.show_bboxes", "colors"): {"empty": "the default colours, the same as None"},
    ("detection.assign_anchor_to_bbox", "iou_threshold"): {"0": THRESHOLD_ZERO},
    ("detection.nms", "iou_threshold"): {"0": THRESHOLD_ZERO},
    ("detection.multibox_detection", "nms_threshold"): {"0": THRESHOLD_ZERO},
    ("detection.multibox_detection", "pos_threshold"): {"0": THRESHOLD_ZERO},
    ("segmentation.load_data_voc", "num_workers"): {"0": "num_workers=0 loads in the main process (the default)"},
    ("segmentation.VOCSegDataset", "mean"): {"items 0": "a channel mean may be any real number",
                                             "items -1": "a channel mean may be any real number"},
    ("distributed.torchrun_command", "args"): {"empty": "a script without command-line arguments"},
    ("distributed.run_torchrun", "args"): {"empty": "a script without command-line arguments"},
}


def _exempt(helper: str, arg: str, probe: str) -> bool:
    if arg == "dropout" and probe == "0":
        return True   # DROPOUT_ZERO
    if arg == "seed" and probe == "0":
        return True   # SEED_ZERO
    return probe in EXEMPT.get((helper, arg), {})


def _tiny_snli():
    return (["a dog runs"], ["an animal moves"], [0])


# Valid values for arguments whose generic stand-in (2 for an int, 0.5 for a float, None otherwise)
# would not pass the other checks.
VALID: dict[str, dict] = {
    "text.tokenize": dict(lines=["a b"]),
    "text.seq_data_iter_random": dict(corpus=list(range(40))),
    "rnn.RNNModel": dict(rnn_layer=nn.RNN(2, 2)),
    "vision.download_extract": dict(name="hotdog"),
    "text.seq_data_iter_sequential": dict(corpus=list(range(40))),
    "seq2seq.truncate_pad": dict(line=[1, 2]),
    "seq2seq.build_array_nmt": dict(lines=[["a"]]),
    "attention.show_heatmaps": dict(titles=["t"]),
    "attention.AddNorm": dict(normalized_shape=[2]),
    "attention.EncoderBlock": dict(norm_shape=[2]),
    "attention.TransformerEncoder": dict(norm_shape=[2]),
    "attention.DecoderBlock": dict(norm_shape=[2]),
    "attention.TransformerDecoder": dict(norm_shape=[2]),
    "bert.BERTEncoder": dict(norm_shape=[2]),
    "bert.BERTModel": dict(norm_shape=[2]),
    "bert.get_tokens_and_segments": dict(tokens_a=["a"], tokens_b=["b"]),
    "bert.get_bert_encoding": dict(tokens_a=["a"], tokens_b=["b"]),
    "bert.read_wiki": dict(splits=("valid",)),
    "bert.load_data_wiki": dict(splits=("valid",)),
    "bert.pretrained_bert": dict(settings={}, splits=("valid",)),
    "bert.SNLIBERTDataset": dict(dataset=_tiny_snli(), max_len=8),
    "bert.train_bert": dict(devices=["cpu"]),
    "detection.show_bboxes": dict(labels=["x"], colors=["r"]),
    "detection.multibox_prior": dict(sizes=[0.5], ratios=[1.0]),
    "detection.make_banana_image": dict(backgrounds=[object()], sprites=[object()]),
    "segmentation.VOCSegDataset": dict(crop_size=(2, 2)),
    "segmentation.load_data_voc": dict(crop_size=(2, 2)),
    "segmentation.make_voc_standin": dict(image_size=(2, 2)),
    "vision.train_ch13": dict(devices=["cpu"]),
    "vision.reorg_train_valid": dict(labels={"a": "cat"}),
    "optim.show_trace_2d": dict(results=[(0.0, 0.0)]),
    "optim.compare_with_torch": dict(batches=[None]),
    "distributed.torchrun_command": dict(args=["x"]),
    "distributed.run_torchrun": dict(args=["x"]),
}

NUMBER_PROBES = {"0": 0, "-1": -1, "nan": math.nan}
DEVICE_PROBES = {"missing GPU": "cuda:99", "not a device": "no-such-device"}


def public_helpers(modules=MODULES):
    """``(module.name, object)`` for every public function and class defined in ``modules``."""
    for mod in modules:
        short = mod.__name__.rsplit(".", 1)[-1]
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, functools._lru_cache_wrapper):
                yield f"{short}.{name}", obj


def _kind(param: inspect.Parameter, value) -> str:
    """'number', 'numbers' (a list of numbers), 'list', 'device(s)' or 'other', from the annotation,
    else from the default or the valid value."""
    ann = param.annotation if isinstance(param.annotation, str) else getattr(param.annotation, "__name__", "")
    ann = ann.replace(" ", "")
    while ann.startswith("Optional[") and ann.endswith("]"):
        ann = ann[len("Optional["):-1]
    if param.name in ("device", "devices") or "torch.device" in ann:
        return "devices" if param.name == "devices" else "device"
    if ann in ("int", "float") or ann.startswith(("Union[int", "Union[float")):
        return "number"
    if ann in ("Sequence[float]", "Sequence[int]", "tuple[int,int]", "tuple[float,float]", "list[int]",
               "list[float]"):
        return "numbers"
    if ann.split("[")[0] in ("Sequence", "list", "tuple", "Tokens"):
        return "list"
    if ann in ("", "inspect._empty", "_empty"):
        if isinstance(value, bool):
            return "other"
        if isinstance(value, (int, float)):
            return "number"
        if isinstance(value, (list, tuple)):
            return "numbers" if value and all(isinstance(v, (int, float)) for v in value) else "list"
    return "other"


def _valid(helper: str, param: inspect.Parameter, kind: str):
    if param.name in VALID.get(helper, {}):
        return VALID[helper][param.name]
    if param.default is not inspect.Parameter.empty and param.default is not None:
        return param.default
    if kind == "number":
        return 0.5 if "float" in str(param.annotation) else 2
    if kind == "numbers":
        return (2, 2)
    if kind in ("device", "devices"):
        return param.default if param.default is not inspect.Parameter.empty else "cpu"
    if kind == "list":
        return ["x"]
    return None if param.default is inspect.Parameter.empty else param.default


def _probes(kind: str, valid):
    if kind == "number":
        return dict(NUMBER_PROBES)
    if kind == "numbers":
        out = {"empty": type(valid)() if isinstance(valid, (list, tuple)) else []}
        out.update({f"items {k}": [v] * len(valid) for k, v in NUMBER_PROBES.items()})
        return out
    if kind == "list":
        return {"empty": type(valid)() if isinstance(valid, (list, tuple)) else []}
    if kind == "devices":
        return {"empty": [], **{k: [v] for k, v in DEVICE_PROBES.items()}}
    if kind == "device":
        return dict(DEVICE_PROBES)
    return {}


def cases(modules=MODULES):
    """Every (helper, callable, valid kwargs, argument, probe name, bad value) to try."""
    out = []
    for helper, obj in public_helpers(modules):
        if helper in NOT_INPUTS:
            continue
        params = [p for p in inspect.signature(obj).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        kinds = {}
        for p in params:
            guess = VALID.get(helper, {}).get(p.name, p.default if p.default is not p.empty else None)
            kinds[p.name] = _kind(p, guess)
        kwargs = {p.name: _valid(helper, p, kinds[p.name]) for p in params}
        for p in params:
            for probe, bad in _probes(kinds[p.name], kwargs[p.name]).items():
                if not _exempt(helper, p.name, probe):
                    out.append((helper, obj, kwargs, p.name, probe, bad))
    return out


def call_with(obj, kwargs: dict, arg: str, bad):
    """Call ``obj`` with ``kwargs`` but ``arg=bad``; a generator is advanced once (its checks run then)."""
    result = obj(**{**kwargs, arg: bad})
    if isinstance(result, types.GeneratorType):
        next(result)
    return result


def rejects_clearly(obj, kwargs: dict, arg: str, bad) -> tuple[bool, str]:
    """(True, message) when the call raises ``ArgumentError`` naming ``arg`` and showing both languages."""
    try:
        call_with(obj, kwargs, arg, bad)
    except checks.ArgumentError as err:
        msg = str(err)
        clear = arg in msg and "（" in msg and any("\u4e00" <= ch <= "\u9fff" for ch in msg)
        return clear, msg
    except Exception as err:  # noqa: BLE001 - anything else is not the clear error
        return False, f"{type(err).__name__}: {err}"
    return False, "accepted"


CASES = cases()


@pytest.mark.parametrize("helper,obj,kwargs,arg,probe,bad", CASES,
                         ids=[f"{c[0]}-{c[3]}={c[4]}" for c in CASES])
def test_bad_argument_is_rejected_clearly(helper, obj, kwargs, arg, probe, bad, capsys):
    clear, msg = rejects_clearly(obj, kwargs, arg, bad)
    assert clear, f"{helper}({arg}={bad!r}) gave: {msg[:300]}"


def test_every_public_helper_is_walked():
    """Each public helper with a number, list or device argument is probed, the rest have none."""
    walked = {c[0] for c in CASES}
    names = {h for h, _ in public_helpers()}
    assert len(names) > 80
    assert {"text.load_data_time_machine", "seq2seq.bleu", "rnn.train_ch8", "vision.pretrained_fashion_resnet",
            "bert.pretrained_bert", "detection.banana_data_dir", "segmentation.make_voc_standin",
            "optim.train_ch11", "distributed.run_torchrun", "attention.MultiHeadAttention"} <= walked
    # The rest have no number, list or device argument, or every probe is a legitimate value (EXEMPT).
    for helper in names - walked - set(NOT_INPUTS):
        params = inspect.signature(dict(public_helpers())[helper]).parameters.values()
        probes = {p.name: _probes(_kind(p, p.default), _valid(helper, p, _kind(p, p.default))) for p in params}
        probed = [name for name, found in probes.items()
                  if found and not all(_exempt(helper, name, k) for k in found)]
        assert not probed, (helper, probed)


def test_exemptions_are_still_legitimate():
    """Every exemption names a helper argument that exists, so that a stale entry is noticed."""
    helpers = dict(public_helpers())
    for (helper, arg), probes in EXEMPT.items():
        assert helper in helpers, helper
        assert arg in inspect.signature(helpers[helper]).parameters, (helper, arg)
        assert probes and all(reason for reason in probes.values())


def test_the_issue_examples():
    """The three cases of issue 33 now stop with a sentence that names the argument."""
    with pytest.raises(checks.ArgumentError, match="batch_size"):
        text.load_data_time_machine(0, 35)
    with pytest.raises(checks.ArgumentError, match="k 必须是正整数"):
        seq2seq.bleu("il est là", "il est là", k=0)
    with pytest.raises(checks.ArgumentError, match="num_epochs"):
        rnn.train_ch8(None, None, None, 1.0, 0, "cpu")
    with pytest.raises(checks.ArgumentError, match="max_tokens"):
        text.load_corpus_time_machine(max_tokens=-3)
    with pytest.raises(checks.ArgumentError, match="num_heads"):
        attention.MultiHeadAttention(4, 4, 4, 6, 4, 0.0)


def test_valid_arguments_pass_the_checks():
    """The checks accept what the chapters pass (no behaviour change for valid arguments)."""
    assert seq2seq.bleu("a b c", "a b c", k=2) == 1.0
    assert seq2seq.truncate_pad([1, 2, 3], 5, 0) == [1, 2, 3, 0, 0]
    net = attention.MultiHeadAttention(8, 8, 8, 8, 2, 0.0)
    assert net(torch.ones(1, 3, 8), torch.ones(1, 3, 8), torch.ones(1, 3, 8)).shape == (1, 3, 8)
    assert detection.multibox_prior(torch.zeros(1, 3, 4, 4), [0.75, 0.5], [1, 2, 0.5]).shape == (1, 64, 4)
    assert len(list(text.seq_data_iter_sequential(list(range(35)), 2, 5))) in (2, 3)  # random offset 0..5
    assert text.Vocab().idx_to_token == ["<unk>"]
    assert rnn.RNNModel(nn.GRU(4, 8), 4).vocab_size == 4
    assert distributed.torchrun_command("s.py", 2)[-1] == "s.py"


# ------------------------------------------------------------------------------ negative tests
def _garbage_in(size: int, rate: float = 0.1, items: list = ()) -> int:
    """A helper without checks: it accepts anything."""
    return size


def _checked(size: int, rate: float = 0.1, items: list = ()) -> int:
    checks.positive_int("size", size)
    checks.positive_number("rate", rate)
    checks.non_empty("items", items)
    return size


def test_walker_catches_a_helper_without_checks():
    fake = types.ModuleType("d2lutils.fake")
    _garbage_in.__module__ = _checked.__module__ = "d2lutils.fake"
    fake.train_fake = _garbage_in
    found = cases([fake])
    assert {(c[3], c[4]) for c in found} == {("size", "0"), ("size", "-1"), ("size", "nan"), ("rate", "0"),
                                             ("rate", "-1"), ("rate", "nan"), ("items", "empty")}
    assert not any(rejects_clearly(*c[1:4], c[5])[0] for c in found)
    fake.train_fake = _checked
    assert all(rejects_clearly(*c[1:4], c[5])[0] for c in cases([fake]))


def test_a_vague_error_does_not_count():
    """An error that does not name the argument, or is not ArgumentError, is not the clear error."""
    def vague(size: int) -> None:
        raise checks.ArgumentError(checks.bilingual("参数不对", "bad argument"))

    def deep(size: int) -> None:
        return [][size]

    assert not rejects_clearly(vague, {}, "size", 0)[0]
    assert not rejects_clearly(deep, {}, "size", 0)[0]
