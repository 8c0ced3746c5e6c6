"""Small models built from scratch: a tokenizer trained on the data and a few-layer transformer.

Used by `distill` for students and by the tests for tiny models of every architecture. BERT-family
models get a WordPiece tokenizer; RoBERTa a byte-level BPE one, as their hub checkpoints have.
"""

from __future__ import annotations

from collections.abc import Sequence

ARCHITECTURES = ("bert", "distilbert", "roberta", "electra", "mobilebert")
WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# Which inputs each architecture's forward takes (DistilBERT and RoBERTa use no segment ids).
INPUT_NAMES = {
    "bert": ["input_ids", "token_type_ids", "attention_mask"],
    "distilbert": ["input_ids", "attention_mask"],
    "roberta": ["input_ids", "attention_mask"],
    "electra": ["input_ids", "token_type_ids", "attention_mask"],
    "mobilebert": ["input_ids", "token_type_ids", "attention_mask"],
}


def check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")


def train_tokenizer(architecture: str, texts: Sequence[str], vocab_size: int = 8000):
    """A `PreTrainedTokenizerFast` trained on `texts`: WordPiece (lower-cased) or byte-level BPE (roberta)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    check_architecture(architecture)
    if architecture == "roberta":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=BPE_SPECIALS,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(texts, trainer)
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
        )
        specials = dict(
            bos_token="<s>",
            eos_token="</s>",
            cls_token="<s>",
            sep_token="</s>",
            pad_token="<pad>",
            unk_token="<unk>",
            mask_token="<mask>",
        )
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=WORDPIECE_SPECIALS, show_progress=False
        )
        tok.train_from_iterator(texts, trainer)
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        specials = dict(
            cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]"
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_input_names=INPUT_NAMES[architecture], **specials
    )


def student_config(
    architecture: str,
    tokenizer,
    labels: Sequence[str],
    problem_type: str,
    *,
    layers: int,
    hidden: int,
    heads: int,
    intermediate: int,
    max_positions: int = 512,
):
    """A transformers config for a small `architecture` sized by the arguments."""
    from transformers import BertConfig, DistilBertConfig, ElectraConfig, MobileBertConfig, RobertaConfig

    check_architecture(architecture)
    common = dict(
        vocab_size=len(tokenizer),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        problem_type=problem_type,
        pad_token_id=tokenizer.pad_token_id,
    )
    sizes = dict(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
    )
    if architecture == "bert":
        return BertConfig(**common, **sizes)
    if architecture == "electra":
        return ElectraConfig(**common, **sizes, embedding_size=hidden)
    if architecture == "roberta":
        # RoBERTa numbers positions from pad_token_id + 1, so it needs two extra position slots.
        return RobertaConfig(
            **common,
            **(sizes | {"max_position_embeddings": max_positions + 2}),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            type_vocab_size=1,
        )
    if architecture == "distilbert":
        return DistilBertConfig(
            **common,
            dim=hidden,
            n_layers=layers,
            n_heads=heads,
            hidden_dim=intermediate,
            max_position_embeddings=max_positions,
        )
    # MobileBERT: a wide body around a narrow bottleneck where attention runs, several small FFNs.
    bottleneck = max(heads, hidden // 2)
    return MobileBertConfig(
        **common,
        **sizes,
        embedding_size=hidden,
        true_hidden_size=bottleneck,
        intra_bottleneck_size=bottleneck,
        num_feedforward_networks=2,
        normalization_type="layer_norm",  # MobileBERT's NoNorm does not train from scratch at this size
    )


def build_student(architecture: str, tokenizer, labels: Sequence[str], problem_type: str, **sizes: int):
    """A randomly initialised sequence classifier (eager attention, so the ONNX export fuses)."""
    from transformers import AutoModelForSequenceClassification

    config = student_config(architecture, tokenizer, labels, problem_type, **sizes)
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
