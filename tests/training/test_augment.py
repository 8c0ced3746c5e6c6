"""Token-level augmentation: each word's neighbours come from the embedding table, and only
whole-word pieces are swapped, the same way for the same seed."""

from __future__ import annotations

import pytest
import torch

from training.augment import augment, neighbours


@pytest.fixture(scope="module")
def tokenizer(tiny_models):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_models["bert"])


@pytest.fixture(scope="module")
def table(tokenizer):
    """Random embeddings in which 'glad' sits next to 'happy' and 'afraid' next to 'scared'."""
    vocab = tokenizer.get_vocab()
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(len(vocab), 16, generator=generator)
    for word, twin in (("happy", "glad"), ("scared", "afraid")):
        weights[vocab[twin]] = weights[vocab[word]] + 0.01 * torch.randn(16, generator=generator)
    return weights


def test_the_nearest_neighbour_is_the_closest_embedding_and_never_the_word_itself(tokenizer, table):
    near = neighbours(tokenizer, table, {"happy", "scared", "not-a-piece", "zzzz"}, k=3)
    assert near["happy"][0] == "glad" and near["scared"][0] == "afraid"
    assert all(len(v) == 3 and word not in v for word, v in near.items())
    assert set(near) == {"happy", "scared"}  # a word the vocabulary splits has no neighbours
    vocab = tokenizer.get_vocab()
    assert all(piece in vocab and piece.isalpha() for v in near.values() for piece in v)


def test_variants_swap_whole_word_pieces_for_their_neighbours_the_same_way_each_seed(tokenizer, table):
    texts = ["i feel so happy today", "really scared about work", "qqqq xxxx"]
    near = neighbours(tokenizer, table, {w for t in texts for w in t.split()}, k=15)
    first = augment(texts, tokenizer, table, copies=5, p=0.5, seed=3)
    assert first == augment(texts, tokenizer, table, copies=5, p=0.5, seed=3)
    assert first != augment(texts, tokenizer, table, copies=5, p=0.5, seed=4)
    assert len(set(first)) == len(first) and not set(first) & set(texts)
    assert 0 < len(first) <= 10  # the text without a whole-word piece has no variant
    for variant in first:
        source = next(t for t in texts if len(t.split()) == len(variant.split()))
        for old, new in zip(source.split(), variant.split(), strict=True):
            assert new == old or new in near[old]
    # p = 1 swaps every word that has neighbours.
    for variant in augment(texts[:1], tokenizer, table, copies=3, p=1.0):
        pairs = zip(texts[0].split(), variant.split(), strict=True)
        assert all(new != old for old, new in pairs if old in near)


def test_bad_settings_are_refused(tokenizer, table):
    with pytest.raises(ValueError, match="copies"):
        augment(["i feel happy"], tokenizer, table, copies=0)
    with pytest.raises(ValueError, match="p must"):
        augment(["i feel happy"], tokenizer, table, copies=1, p=0.0)
