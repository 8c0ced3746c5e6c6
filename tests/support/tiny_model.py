"""Build tiny but real model artifacts for tests: a random BERT classifier exported to ONNX.

The weights are random (no download, ~1 s to build), so predictions are meaningless, but every
moving part is the real one: a `tokenizers` WordPiece tokenizer trained on a few hundred lines,
a transformers BertForSequenceClassification exported by torch.onnx.export, and a manifest
written by chat_emotion.artifact.build_manifest, exactly as the training package produces them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chat_emotion.artifact import MODEL_FILE, TOKENIZER_FILE, Manifest, build_manifest

SINGLE_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
MULTI_LABELS = ["admiration", "amusement", "anger", "gratitude", "neutral"]

_SENTENCES = ("i feel so happy today the sun is out and my friends are here "
          "this is terrible i am angry and sad about what happened at work "
          "wow what a surprise i did not expect that at all thank you "
          "i love you so much you make me laugh that scared me a lot")
_WORDS = _SENTENCES.split()


# Texts whose torch logits the builder records, so tests can check ONNX Runtime against torch.
REFERENCE_TEXTS = ["i feel so happy today", "this is terrible", "wow what a surprise i did not expect that"]


@dataclass(frozen=True)
class TinyArtifact:
    directory: Path
    manifest: Manifest
    reference_logits: list[list[float]]
    """torch's logits for REFERENCE_TEXTS, each text run alone (no padding)."""


def corpus(lines: int = 300) -> list[str]:
    """Deterministic pseudo-sentences over a small vocabulary."""
    out = []
    for i in range(lines):
        n = 4 + i % 9
        out.append(" ".join(_WORDS[(i * 7 + j * 13) % len(_WORDS)] for j in range(n)))
    return out


def train_tokenizer(path: Path, vocab_size: int = 200) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tokenizer.save(str(path))


def build_tiny_artifact(directory: Path, *, name: str = "tiny", version: str = "v1",
                        multi_label: bool = False, max_length: int = 32, seed: int = 0) -> TinyArtifact:
    """Write model.onnx, tokenizer.json and manifest.json for a 2-layer, 32-wide BERT into `directory`.

    The classifier's bias is set so results are predictable despite random weights: `joy` wins
    for the single-label model; `admiration` and `gratitude` are over the 0.5 threshold for the
    multi-label one and the other labels are under it.
    """
    import torch
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertForSequenceClassification

    directory.mkdir(parents=True, exist_ok=True)
    train_tokenizer(directory / TOKENIZER_FILE)
    vocab = json.loads((directory / TOKENIZER_FILE).read_text())["model"]["vocab"]
    labels = MULTI_LABELS if multi_label else SINGLE_LABELS
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_length + 2, num_labels=len(labels),
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        attn_implementation="eager")
    model = BertForSequenceClassification(config).eval()
    bias = [2.0, -3.0, -3.0, 2.0, -3.0] if multi_label else [0.0, 3.0, 0.0, 0.0, 0.0, 0.0]
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor(bias))
    input_names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in input_names)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in input_names}
    with torch.no_grad():
        torch.onnx.export(
            model, dummy, str(directory / MODEL_FILE), input_names=input_names, output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    reference = []
    with torch.no_grad():
        for text in REFERENCE_TEXTS:
            enc = tokenizer.encode(text)
            feed = [torch.tensor([ids]) for ids in (enc.ids, enc.attention_mask, enc.type_ids)]
            reference.append(model(*feed).logits[0].tolist())
    manifest = build_manifest(
        directory, name=name, version=version, architecture="bert", base_checkpoint="scratch",
        labels=list(labels),
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        threshold=0.5 if multi_label else None, max_length=max_length, quantization="fp32",
        input_names=input_names,
        evaluation={"note": "random weights, for tests only"},
        provenance={"command": "tests/support/tiny_model.py", "seed": seed})
    return TinyArtifact(directory=directory, manifest=manifest, reference_logits=reference)
