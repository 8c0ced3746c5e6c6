"""Token-level augmentation for distillation: variants of the training texts for the teacher to label.

TinyBERT's recipe (Jiao et al., 2020, section 3.2) without a masked language model: each word that
is one whole-word piece of the student's vocabulary is, with probability `p`, replaced by one of its
`k` nearest whole-word pieces by cosine similarity in the student's input embedding table; longer
words stay. The variants carry no label of their own: the teacher labels them and the student
learns them with the soft loss alone (`distill --augment N`). In-domain text in the teacher's
words, where `--transfer-data` brings another domain's.
"""

from __future__ import annotations

import numpy as np
import torch


def neighbours(tokenizer, embeddings: torch.Tensor, words: set[str], k: int) -> dict[str, list[str]]:
    """For each of `words` that the tokenizer keeps whole (one piece, not a continuation), its `k`
    nearest whole-word alphabetic pieces by the cosine of their input embeddings (itself excluded)."""
    vocab = tokenizer.get_vocab()
    pieces = sorted((piece, i) for piece, i in vocab.items() if piece.isalpha() and piece.isascii())
    candidate_ids = torch.tensor([i for _, i in pieces])
    candidate_names = [piece for piece, _ in pieces]
    table = torch.nn.functional.normalize(embeddings.detach().float(), dim=-1)
    candidates = table[candidate_ids]
    queries = sorted(w for w in words if w in vocab and w.isalpha())
    out: dict[str, list[str]] = {}
    for start in range(0, len(queries), 1024):
        chunk = queries[start:start + 1024]
        sims = table[torch.tensor([vocab[w] for w in chunk])] @ candidates.T
        top = sims.topk(min(k + 1, len(candidate_names)), dim=-1).indices
        for word, row in zip(chunk, top.tolist(), strict=True):
            near = [candidate_names[j] for j in row if candidate_names[j] != word][:k]
            if near:
                out[word] = near
    return out


def augment(
    texts: list[str],
    tokenizer,
    embeddings: torch.Tensor,
    *,
    copies: int,
    p: float = 0.4,
    k: int = 15,
    seed: int = 42,
) -> list[str]:
    """`copies` variants of each text (the same ones for the same seed), each word replaced with
    probability `p` by one of its `k` neighbours; a variant equal to its text, or already made,
    is dropped."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    words = {w for text in texts for w in text.split()}
    near = neighbours(tokenizer, embeddings, {w.lower() for w in words} | words, k)
    rng = np.random.default_rng(seed)
    seen = set(texts)
    out: list[str] = []
    for text in texts:
        split = text.split()
        options = [near.get(w) or near.get(w.lower()) for w in split]
        if not any(options):
            continue
        for _ in range(copies):
            draws = rng.random(len(split))
            variant = " ".join(
                opts[rng.integers(len(opts))] if opts and draw < p else word
                for word, opts, draw in zip(split, options, draws, strict=True)
            )
            if variant not in seen:
                seen.add(variant)
                out.append(variant)
    return out
