"""The numpy engine (chat_emotion.numpy_runtime) against what it replaces on the device.

- text_tokenizer: the ids `tokenizers` gives, for every shipped tokenizer.json, on a table of
  boundary texts and on every val text of both data sets (those skip where ../shared/data is absent);
- onnx_reader: every initializer, node and attribute the `onnx` package reads, for every artifact;
- numpy_runtime: ONNX Runtime's decision (as chat_emotion.runtime serves it) on 100 % of val for
  the default and the five students and >= 99.5 % of GoEmotions dev label sets (heavy: real data);
- `python -m mobile_app.ondevice label` in a Python whose only package is numpy.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chat_emotion.numpy_graph import NumpyGraph, UnsupportedGraphError
from chat_emotion.numpy_runtime import NumpyClassifier
from chat_emotion.onnx_reader import Graph, Node, OnnxFormatError, read_model
from chat_emotion.text_tokenizer import PyTokenizer, TokenizerConfigError

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "models" / "store"
SHARED_DATA = ROOT.parent / "shared" / "data"
STUDENTS = ("bert", "distilbert", "roberta", "electra", "mobilebert")


def latest(name: str) -> Path:
    return STORE / name / (STORE / name / "LATEST").read_text().strip()


def every_artifact() -> list[Path]:
    return sorted(p.parent for p in STORE.glob("*/*/model.onnx"))


def tokenizer_files() -> dict[str, Path]:
    """One artifact per distinct tokenizer.json among the shipped models."""
    seen: dict[bytes, Path] = {}
    for folder in every_artifact():
        seen.setdefault((folder / "tokenizer.json").read_bytes(), folder)
    return {f"{p.parent.name}@{p.name}": p / "tokenizer.json" for p in seen.values()}


BOUNDARY_TEXTS = [
    "", " ", "   ", "a", "I", "i feel so happy and loved today", "Hello [SEP] world", "[CLS][CLS][PAD]",
    "<s>hi</s> <mask>", "<pad>", "naïve café RÉSUMÉ Ångström", "ΣΊΣΥΦΟΣ ΟΔΟΣ", "日本語のテキスト 中文",
    "한국어",
    "emoji 😀🎉 test 👍🏽", "tab\there\x0bvertical\x0cfeed", "don't 'S 's we'll I'M", "  two  spaces  ",
    "\u200bzero\u200dwidth\ufeff", "İstanbul ß ﬁ", "x" * 101 + " y", "1,234.56$ += 3^2 ~ `q` |p|",
    "\x00nul\ufffd", "hello\r\nworld\n", "a  b", "\t\tb", "word " * 80, "supercalifragilisticexpialidocious",
    "url: https://example.com/a?b=c&d=e #tag @user", "ＦＵＬＬ ｗｉｄｔｈ", "\u00a0nbsp\u3000ideographic",
    "مرحبا بالعالم", "שָׁלוֹם", "e\u0301 combining", "!!!???...", "'", "''''", " '", "a'b", "😀" * 70,
]


def reference_ids(tokenizer_json: Path, texts: list[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(tokenizer_json))
    reference.enable_truncation(64)
    reference.no_padding()
    return [e.ids for e in reference.encode_batch(texts)]


def val_texts() -> list[str]:
    emotion, goemotions = SHARED_DATA / "emotion" / "val.txt", SHARED_DATA / "goemotions" / "dev.tsv"
    if not (emotion.is_file() and goemotions.is_file()):
        pytest.skip(f"real data not found at {SHARED_DATA} (the project runs without it; this test needs it)")
    texts = [line.rsplit(";", 1)[0] for line in emotion.read_text(encoding="utf-8").splitlines()]
    return texts + [line.split("\t")[0] for line in goemotions.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", sorted(tokenizer_files()))
def test_the_python_tokenizer_gives_the_ids_tokenizers_gives_on_boundary_texts(name):
    path = tokenizer_files()[name]
    mine = PyTokenizer.from_file(path, 64)
    expected = reference_ids(path, BOUNDARY_TEXTS)
    got = [mine.encode(text) for text in BOUNDARY_TEXTS]
    differ = [(t[:40], e[:12], g[:12])
              for t, e, g in zip(BOUNDARY_TEXTS, expected, got, strict=True) if e != g]
    assert not differ
    assert max(len(ids) for ids in got) == 64  # truncation reached, special tokens kept


@pytest.mark.parametrize("name", sorted(tokenizer_files()))
def test_the_python_tokenizer_gives_the_ids_tokenizers_gives_on_every_val_text(name):
    texts = val_texts()
    path = tokenizer_files()[name]
    mine = PyTokenizer.from_file(path, 64)
    differ = [t for t, ids in zip(texts, reference_ids(path, texts), strict=True) if mine.encode(t) != ids]
    assert len(texts) == 2000 + 5426 and not differ[:5]


def test_a_tokenizer_it_does_not_implement_is_refused(tmp_path):
    with pytest.raises(TokenizerConfigError, match="only WordPiece and BPE"):
        PyTokenizer({"model": {"type": "Unigram", "vocab": []}}, 64)
    with pytest.raises(TokenizerConfigError, match="BertNormalizer"):
        PyTokenizer({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}},
                     "normalizer": {"type": "NFKC"}}, 64)
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(TokenizerConfigError, match="does not load"):
        PyTokenizer.from_file(tmp_path / "t.json", 64)


@pytest.mark.parametrize("folder", every_artifact(), ids=lambda p: f"{p.parent.name}@{p.name}")
def test_the_reader_sees_what_the_onnx_package_sees(folder):
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    path = folder / "model.onnx"
    graph, model = read_model(path.read_bytes()), onnx.load(str(path))
    assert [n.op_type for n in graph.nodes] == [n.op_type for n in model.graph.node]
    for mine, theirs in zip(graph.nodes, model.graph.node, strict=True):
        assert (mine.inputs, mine.outputs) == (list(theirs.input), list(theirs.output))
        assert mine.domain == theirs.domain
        for attribute in theirs.attribute:
            value = helper.get_attribute_value(attribute)
            assert mine.attributes[attribute.name] == pytest.approx(value)
    for tensor in model.graph.initializer:
        expected = numpy_helper.to_array(tensor)
        got = graph.initializers[tensor.name]
        assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert graph.outputs == [o.name for o in model.graph.output]


def test_bytes_that_are_not_a_model_are_refused():
    with pytest.raises(OnnxFormatError):
        read_model(b"\xff" * 20)
    with pytest.raises(OnnxFormatError, match="no graph"):
        read_model(b"\x08\x07")  # ir_version 7 and nothing else


def test_an_operator_it_does_not_implement_is_named():
    graph = Graph(nodes=[Node("NonMaxSuppression", "", ["x"], ["y"])], initializers={}, inputs=["x"],
                  outputs=["y"])
    with pytest.raises(UnsupportedGraphError, match="no implementation of NonMaxSuppression.*ONNX Runtime"):
        NumpyGraph(graph)


def _agreement(folder: Path, texts: list[str]) -> float:
    from chat_emotion.runtime import Classifier

    served, mine = Classifier.load(folder), NumpyClassifier.load(folder)
    same = sum(served.predict([t], batch_size=1)[0].labels == mine.predict([t], batch_size=1)[0].labels
               for t in texts)
    return same / len(texts)


def test_the_default_decides_as_onnx_runtime_on_chat_lines():
    texts = [text for text in BOUNDARY_TEXTS if text.strip()] + [
        "i am so happy and grateful for all of you today", "why would you do that to me",
        "i feel so alone tonight", "that spider scared the life out of me", "wow i did not expect that",
    ]
    assert _agreement(latest("minilm-l2"), texts) == 1.0


def test_a_batch_is_padded_and_masked_as_onnx_runtime_is_fed():
    from chat_emotion.runtime import Classifier

    texts = ["short", "a much longer text that needs the padding of the others", "mid length one"]
    for name in ("minilm-l2", "roberta", "distilbert"):
        served, mine = Classifier.load(latest(name)), NumpyClassifier.load(latest(name))
        assert np.abs(served.logits(texts) - mine.logits(texts)).max() < 0.1
        assert [p.label for p in served.predict(texts)] == [p.label for p in mine.predict(texts)]


def _onnx_runtime_int8_is_exact() -> bool:
    """False on x86 without VNNI: there ONNX Runtime's u8s8 int8 GEMM adds pairs of products in
    int16 (`vpmaddubsw`), which saturates, so its logits are not the exact integer arithmetic the
    numpy engine does (seen on an AMD EPYC with AVX2: 0.05-1 % of val decided differently, e.g.
    mobilebert 0.906 accuracy through ONNX Runtime, 0.9035 through numpy). With VNNI (and on ARM)
    the sums are 32-bit and the two agree exactly."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return "avx512_vnni" in flags or "avx_vnni" in flags


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["minilm-l2", *STUDENTS])
def test_the_numpy_engine_decides_as_onnx_runtime_on_all_of_val(name):
    emotion = SHARED_DATA / "emotion" / "val.txt"
    if not emotion.is_file():
        pytest.skip(f"real data not found at {emotion}")
    texts = [line.rsplit(";", 1)[0] for line in emotion.read_text(encoding="utf-8").splitlines()]
    assert len(texts) == 2000
    agreement = _agreement(latest(name), texts)
    if _onnx_runtime_int8_is_exact():
        assert agreement == 1.0
    else:  # ONNX Runtime's own rounding on this CPU, not the engine's: see the helper
        assert agreement >= 0.985, agreement


@pytest.mark.heavy
def test_the_numpy_engine_gives_onnx_runtimes_label_sets_on_goemotions_dev():
    dev = SHARED_DATA / "goemotions" / "dev.tsv"
    if not dev.is_file():
        pytest.skip(f"real data not found at {dev}")
    texts = [line.split("\t")[0] for line in dev.read_text(encoding="utf-8").splitlines()]
    assert len(texts) == 5426 and _agreement(latest("goemotions"), texts) >= 0.995


def test_the_label_command_runs_in_a_python_with_only_numpy(tmp_path):
    """The interpreter without site-packages (-S), given numpy alone: no onnxruntime, tokenizers,
    onnx, protobuf or requests can be imported, as on Android or a 32-bit Pi."""
    site = Path(np.__file__).resolve().parents[1]
    only_numpy = tmp_path / "site"
    only_numpy.mkdir()
    for entry in ("numpy", "numpy.libs"):
        if (site / entry).exists():
            (only_numpy / entry).symlink_to(site / entry)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(only_numpy), str(ROOT / "functions"), str(ROOT)])
    python = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([python, "-S", "-c", "import onnxruntime"], env=env, capture_output=True)
    assert probe.returncode != 0  # the check below means something only if ORT is really absent
    texts = ["i am so happy and grateful for all of you today", "that spider scared the life out of me"]
    done = subprocess.run(
        [python, "-S", "-m", "mobile_app.ondevice", "label", "--model-dir", str(latest("minilm-l2")), "-v",
         *texts], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"joy\t{texts[0]}", f"fear\t{texts[1]}"]
    assert done.stderr.startswith("numpy minilm-l2@")
