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


REHOUSABLE = ("electra", "distilbert", "roberta", "mobilebert")


def rehouse(model, tokenizer, architecture: str):
    """(a model of `architecture`, its tokenizer) carrying a BERT model's weights: the same encoder,
    so the same hidden states, with the embeddings adapted and a classification head started from
    BERT's pooler and classifier (the activation between them is the new architecture's own).

    ELECTRA's encoder is BERT's, name for name. DistilBERT has no segment embeddings: segment 0's
    row is added to every position's. RoBERTa numbers positions from pad_token_id + 1: the position
    table moves down by that many rows, and its one segment row is BERT's segment 0. MobileBERT with
    its bottleneck, trigram embedding and extra feed-forward networks off and LayerNorm for NoNorm is
    BERT's layer, name for name, and its pooler (dense, tanh) is BERT's. The tokenizer stays the
    source's (WordPiece), told which inputs the architecture takes.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

    source = model.config
    if source.model_type != "bert":
        raise ValueError(
            f"--as re-houses a BERT-family start (bert, MiniLM); this one is {source.model_type!r}"
        )
    if architecture not in REHOUSABLE:
        raise ValueError(f"--as {architecture}: a BERT model's weights fit {', '.join(REHOUSABLE)}")
    labels = [source.id2label[i] for i in range(source.num_labels)]
    pad = tokenizer.pad_token_id
    sizes = dict(
        layers=source.num_hidden_layers,
        hidden=source.hidden_size,
        heads=source.num_attention_heads,
        intermediate=source.intermediate_size,
        max_positions=source.max_position_embeddings,
    )
    config = student_config(architecture, tokenizer, labels, source.problem_type, **sizes)
    if architecture == "roberta":  # positions start at pad + 1, not at 2 as with RoBERTa's own pad id 1
        config.max_position_embeddings = source.max_position_embeddings + pad + 1
    config.layer_norm_eps = source.layer_norm_eps
    setattr(config, "activation" if architecture == "distilbert" else "hidden_act", source.hidden_act)
    if architecture == "mobilebert":  # BERT's layer: no bottleneck, one feed-forward network, a tanh pooler
        config.update(dict(use_bottleneck=False, use_bottleneck_attention=False, trigram_input=False,
                           true_hidden_size=source.hidden_size, num_feedforward_networks=1,
                           classifier_activation=True))
    target = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    old = {k.removeprefix("bert."): v for k, v in model.state_dict().items()}
    new: dict[str, torch.Tensor] = {}
    word, positions, segments = (old[f"embeddings.{n}.weight"] for n in
                                 ("word_embeddings", "position_embeddings", "token_type_embeddings"))
    if architecture == "distilbert":
        new |= {
            "distilbert.embeddings.word_embeddings.weight": word,
            "distilbert.embeddings.position_embeddings.weight": positions + segments[0],
            "distilbert.embeddings.LayerNorm.weight": old["embeddings.LayerNorm.weight"],
            "distilbert.embeddings.LayerNorm.bias": old["embeddings.LayerNorm.bias"],
        }
        names = {
            "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
            "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
            "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
            "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
        }
        for key, value in old.items():
            if key.startswith("encoder.layer."):
                index, rest = key.removeprefix("encoder.layer.").split(".", 1)
                module, param = rest.rsplit(".", 1)
                new[f"distilbert.transformer.layer.{index}.{names[module]}.{param}"] = value
        head = {"pre_classifier": "pooler.dense", "classifier": "classifier"}
    else:
        prefix = architecture
        for key, value in old.items():
            if key.startswith(("encoder.", "embeddings.LayerNorm.")):
                new[f"{prefix}.{key}"] = value
        new[f"{prefix}.embeddings.word_embeddings.weight"] = word
        new[f"{prefix}.embeddings.token_type_embeddings.weight"] = segments[: config.type_vocab_size]
        if architecture == "roberta":
            moved = torch.zeros(config.max_position_embeddings, positions.shape[1], dtype=positions.dtype)
            moved[pad + 1:] = positions
            new[f"{prefix}.embeddings.position_embeddings.weight"] = moved
        else:
            new[f"{prefix}.embeddings.position_embeddings.weight"] = positions
        head = {"classifier.dense": "pooler.dense", "classifier.out_proj": "classifier"}
        if architecture == "mobilebert":
            head = {"mobilebert.pooler.dense": "pooler.dense", "classifier": "classifier"}
    for mine, theirs in head.items():
        for param in ("weight", "bias"):
            if f"{theirs}.{param}" in old:
                new[f"{mine}.{param}"] = old[f"{theirs}.{param}"]
    missing, unexpected = target.load_state_dict(new, strict=False)
    if architecture == "mobilebert":  # built always, applied only to trigram or narrower embeddings
        missing = [k for k in missing if ".embedding_transformation." not in k]
    if missing or unexpected:
        raise RuntimeError(f"re-housing as {architecture} left {missing} unset and {unexpected} unused")
    specials = {n: getattr(tokenizer, n) for n in
                ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token") if getattr(tokenizer, n)}
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer.backend_tokenizer, model_input_names=INPUT_NAMES[architecture], **specials
    )
    return target, wrapped
