"""The shipped tokenizer.json files, read and applied in pure Python (standard library only).

`tokenizers` (Rust) has no python-for-android recipe and no 32-bit ARM wheel, so the numpy engine
tokenizes with this module instead. It implements exactly what the project's artifacts use, and
refuses any other configuration rather than guess:

- BERT family (bert, distilbert, electra, mobilebert, minilm, goemotions): `BertNormalizer`
  (clean text, pad CJK ideographs, strip accents, lowercase), `BertPreTokenizer` (split on
  whitespace and punctuation), `WordPiece` (greedy longest match, `##` continuations, a word of
  more than `max_input_chars_per_word` characters or with no match is `[UNK]`), `[CLS] … [SEP]`.
- RoBERTa: `ByteLevel` (a prefix space, GPT-2's split pattern, bytes mapped to printable
  characters), `BPE` merges by rank, `<s> … </s>`.

Special tokens (`added_tokens`) written in the text are matched first, on the raw text, as
`tokenizers` does. Truncation keeps the first `max_length - 2` tokens. The ids are tested equal to
`tokenizers`' on every val text of both data sets and on a table of boundary texts
(tests/function/test_text_tokenizer.py).
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from pathlib import Path

# Rust's char::is_whitespace (Unicode White_Space), which `tokenizers` uses; Python's isspace differs.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


class TokenizerConfigError(ValueError):
    """tokenizer.json asks for something this tokenizer does not implement."""


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c)[0] == "C"


def _is_punctuation(c: str) -> bool:
    return (c.isascii() and not c.isalnum() and c.isprintable() and c != " ") or \
        unicodedata.category(c).startswith("P")


def _is_cjk(c: str) -> bool:
    code = ord(c)
    return any(lo <= code <= hi for lo, hi in _CJK)


class PyTokenizer:
    """`encode(text) -> (ids, type_ids)` for one text, as `tokenizers` would give with the
    artifact's truncation; build it with `PyTokenizer.from_file(tokenizer.json, max_length)`."""

    def __init__(self, spec: dict, max_length: int) -> None:
        model = spec.get("model") or {}
        self.kind = model.get("type")
        if self.kind not in ("WordPiece", "BPE"):
            raise TokenizerConfigError(
                f"tokenizer model {self.kind!r}: only WordPiece and BPE are implemented")
        self.vocab: dict[str, int] = model["vocab"]
        self.max_length = max_length
        padding = spec.get("padding") or {}
        self.pad_id: int = padding.get("pad_id", next(
            (self.vocab[t] for t in ("[PAD]", "<pad>") if t in self.vocab), 0))
        self.specials = sorted(
            ((t["content"], t["id"]) for t in spec.get("added_tokens", []) if not t.get("normalized")),
            key=lambda item: -len(item[0]),
        )
        if self.kind == "WordPiece":
            self._setup_wordpiece(spec, model)
        else:
            self._setup_bpe(spec, model)

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> PyTokenizer:
        try:
            spec = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise TokenizerConfigError(f"{path} does not load: {err}") from err
        return cls(spec, max_length)

    # --- configuration ---------------------------------------------------------------------------

    def _setup_wordpiece(self, spec: dict, model: dict) -> None:
        normalizer, pre = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}
        if normalizer.get("type") != "BertNormalizer" or pre.get("type") != "BertPreTokenizer":
            raise TokenizerConfigError(
                f"WordPiece with normalizer {normalizer.get('type')!r} and pre-tokenizer "
                f"{pre.get('type')!r}: only BertNormalizer + BertPreTokenizer are implemented")
        self.clean_text = normalizer.get("clean_text", True)
        self.chinese = normalizer.get("handle_chinese_chars", True)
        self.lowercase = normalizer.get("lowercase", True)
        strip = normalizer.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else strip
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = model.get("max_input_chars_per_word", 100)
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.cls, self.sep = self._template(spec, "[CLS]", "[SEP]")

    def _setup_bpe(self, spec: dict, model: dict) -> None:
        pre = spec.get("pre_tokenizer") or {}
        if spec.get("normalizer") or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
            raise TokenizerConfigError("BPE is implemented for RoBERTa's byte-level tokenizer only")
        if model.get("dropout") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
            raise TokenizerConfigError("BPE with dropout or subword affixes is not implemented")
        self.add_prefix_space = pre.get("add_prefix_space", True)
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.unk = self.vocab.get(model.get("unk_token") or "", None)
        self.byte_chars = _bytes_to_unicode()
        post = spec.get("post_processor") or {}
        if post.get("type") == "RobertaProcessing":
            self.cls, self.sep = post["cls"][1], post["sep"][1]
        else:
            self.cls, self.sep = self._template(spec, "<s>", "</s>")
        self._bpe = lru_cache(maxsize=50_000)(self._bpe_word)

    def _template(self, spec: dict, cls_token: str, sep_token: str) -> tuple[int, int]:
        post = spec.get("post_processor") or {}
        single = post.get("single")
        if post.get("type") == "TemplateProcessing" and single:
            names = [p.get("SpecialToken", {}).get("id") for p in single]
            if len(single) != 3 or "Sequence" not in single[1]:
                raise TokenizerConfigError(f"post-processor template {names}: expected CLS A SEP")
            ids = {k: v["ids"][0] for k, v in post.get("special_tokens", {}).items()}
            return ids.get(names[0], self.vocab[names[0]]), ids.get(names[2], self.vocab[names[2]])
        if post.get("type") == "BertProcessing":
            return post["cls"][1], post["sep"][1]
        return self.vocab[cls_token], self.vocab[sep_token]

    # --- encoding --------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of one text, with its special tokens, truncated to max_length."""
        ids: list[int] = []
        for piece, special in self._split_specials(text):
            if special is not None:
                ids.append(special)
            elif self.kind == "WordPiece":
                ids.extend(self._wordpiece(piece))
            else:
                ids.extend(self._bytelevel(piece))
        return [self.cls, *ids[: max(0, self.max_length - 2)], self.sep]

    def _split_specials(self, text: str) -> list[tuple[str, int | None]]:
        """The text cut around special tokens written in it (leftmost, longest first)."""
        if not self.specials or not any(content in text for content, _ in self.specials):
            return [(text, None)]
        out: list[tuple[str, int | None]] = []
        start = i = 0
        while i < len(text):
            for content, token_id in self.specials:
                if text.startswith(content, i):
                    if start < i:
                        out.append((text[start:i], None))
                    out.append((content, token_id))
                    i = start = i + len(content)
                    break
            else:
                i += 1
        if start < len(text):
            out.append((text[start:], None))
        return out

    def _normalize(self, text: str) -> str:
        if self.clean_text:
            text = "".join(" " if c in WHITESPACE else c for c in text
                           if c != "\0" and c != "\ufffd" and not _is_control(c))
        if self.chinese:
            text = "".join(f" {c} " if _is_cjk(c) else c for c in text)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        if self.lowercase:  # per character, as tokenizers does: no final-sigma rule
            text = "".join(c.lower() for c in text)
        return text

    def _wordpiece(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in _bert_words(self._normalize(text)):
            ids.extend(self._wordpiece_word(word))
        return ids

    def _wordpiece_word(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                token_id = self.vocab.get(piece)
                if token_id is not None:
                    ids.append(token_id)
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def _bytelevel(self, text: str) -> list[int]:
        if not text:
            return []
        if self.add_prefix_space and not text.startswith(" "):
            text = " " + text
        ids: list[int] = []
        for chunk in _gpt2_chunks(text):
            mapped = "".join(self.byte_chars[b] for b in chunk.encode("utf-8"))
            for symbol in self._bpe(mapped):
                token_id = self.vocab.get(symbol, self.unk)
                if token_id is not None:
                    ids.append(token_id)
        return ids

    def _bpe_word(self, word: str) -> tuple[str, ...]:
        symbols = list(word)
        while len(symbols) > 1:
            best, where = None, -1
            for i in range(len(symbols) - 1):
                rank = self.ranks.get((symbols[i], symbols[i + 1]))
                if rank is not None and (best is None or rank < best):
                    best, where = rank, i
            if best is None:
                break
            symbols[where:where + 2] = [symbols[where] + symbols[where + 1]]
        return tuple(symbols)


def _bert_words(text: str) -> list[str]:
    """BertPreTokenizer: split on whitespace (dropped) and around each punctuation character (kept)."""
    words, current = [], []
    for c in text:
        if c in WHITESPACE:
            if current:
                words.append("".join(current))
                current = []
        elif _is_punctuation(c):
            if current:
                words.append("".join(current))
                current = []
            words.append(c)
        else:
            current.append(c)
    if current:
        words.append("".join(current))
    return words


def _kind(c: str) -> str:
    """'s' whitespace, 'L' letter, 'N' number, 'o' anything else (GPT-2's classes)."""
    if c in WHITESPACE:
        return "s"
    category = unicodedata.category(c)[0]
    return category if category in "LN" else "o"


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _gpt2_chunks(text: str) -> list[str]:
    """GPT-2's pattern, as ByteLevel applies it:
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"""
    kinds = [_kind(c) for c in text]
    out, i, n = [], 0, len(text)

    def run(j: int, kind: str) -> int:
        while j < n and kinds[j] == kind:
            j += 1
        return j

    while i < n:
        contraction = next((c for c in _CONTRACTIONS if text.startswith(c, i)), None)
        if contraction:
            out.append(contraction)
            i += len(contraction)
            continue
        j = i + 1 if text[i] == " " and i + 1 < n and kinds[i + 1] != "s" else i
        if kinds[j] != "s":
            end = run(j, kinds[j])
            out.append(text[i:end])
            i = end
            continue
        end = run(i, "s")
        if end < n and end - i > 1:
            end -= 1  # \s+(?!\S): leave the last space to lead the next word
        out.append(text[i:end])
        i = end
    return out


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars
