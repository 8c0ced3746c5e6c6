"""The most a single message can cost: every shipped model on the longest and hardest texts the
contract allows (2,000 UTF-16 units), through handler.process() at 1 thread, beside a typical tweet.

A message is bounded twice: the rules and the handler refuse text past 2,000 UTF-16 units, and the
tokenizer truncates what it reads to the model's max_length (64 or 128 tokens), so the model's
run is that of a full window whatever the text; what grows with the text is only the tokenizer's
pass over it. The texts: one 2,000-letter word, 1,000 two-letter words, 1,000 emoji, 2,000 CJK
characters, 1,000 punctuation pairs, 1,000 letters with a combining accent.

    python benchmarks/worst_case.py --repeats 20

Prints, per model, p50 ms of the typical message and of each worst text (the slowest named), the
tokens the model saw, and the tokenizer's own time on the slowest text.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time

from common import PROJECT, REPO_ROOT, add_store_argument, load_line, make_parser

TYPICAL = "i feel so happy today, my friends came to see me"
WORST = {
    "one 2000-letter word": "a" * 2000,
    "1000 short words": "ab " * 666 + "ab",
    "1000 emoji": "\U0001F600" * 1000,
    "2000 CJK characters": "\u611f" * 2000,
    "1000 punctuation pairs": "!?" * 1000,
    "1000 accented letters": "e\u0301" * 1000,
}


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    add_store_argument(parser)
    parser.add_argument("--repeats", type=int, default=20, help="runs of each text per model (default 20)")
    parser.add_argument("--models", help="comma-separated model names (default: every name in the store)")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(REPO_ROOT / "functions"), str(REPO_ROOT)]
    from chat_emotion import handler
    from chat_emotion.quota import Limits
    from chat_emotion.store import open_store
    from chat_emotion.text import MAX_TEXT_UNITS, utf16_length

    from tests.support.memory_repository import MemoryRepository

    for name, text in WORST.items():
        assert utf16_length(text) <= MAX_TEXT_UNITS, name
    store_dir = args.store.resolve()
    names = args.models.split(",") if args.models else sorted(
        p.name for p in store_dir.iterdir() if (p / "LATEST").is_file())
    repository = MemoryRepository()
    service = handler.Service(repository=repository, store=open_store(store_dir),
                              settings=handler.Settings(model_store=str(store_dir), limits=Limits(0, 0)))
    load_before = os.getloadavg()[0]
    counter = 0

    def timed(model: str, text: str) -> float:
        nonlocal counter
        counter += 1
        path = f"users/bench/messages/w{counter}"
        repository.create(path, {"text": text, "model": model})
        event = handler.MessageEvent(document=path, event_id=str(counter), project=PROJECT)
        with contextlib.redirect_stdout(io.StringIO()):  # the function's log lines, not the table
            started = time.perf_counter()
            outcome = handler.process(service, event)
            elapsed = (time.perf_counter() - started) * 1000.0
        if outcome.state != "COMPLETED":
            raise SystemExit(f"{model} on {text[:20]!r}...: {outcome}")
        return elapsed

    print(f"worst case per message, handler.process at 1 thread, {args.repeats} runs each; "
          f"{load_line(load_before)}")
    print("| model | max tokens | typical p50 ms | worst p50 ms | worst text | worst / typical | "
          "tokenizer on it ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in names:
        timed(model, TYPICAL)  # the load, not counted
        typical = statistics.median(timed(model, TYPICAL) for _ in range(args.repeats))
        worst = {label: statistics.median(timed(model, text) for _ in range(args.repeats))
                 for label, text in WORST.items()}
        slowest = max(worst, key=worst.get)
        classifier = next(c for key, (c, _) in service.model_cache()._models.items()
                          if key.endswith(f"|{model}@{c.manifest.version}"))
        started = time.perf_counter()
        for _ in range(args.repeats):
            encoding = classifier._tokenizer.encode(WORST[slowest])
        tokenize_ms = (time.perf_counter() - started) * 1000.0 / args.repeats
        print(f"| {model} | {len(encoding.ids)} | {typical:.2f} | {worst[slowest]:.2f} | {slowest} | "
              f"{worst[slowest] / typical:.1f}x | {tokenize_ms:.2f} |")


if __name__ == "__main__":
    main()
