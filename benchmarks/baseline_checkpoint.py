"""A torch checkpoint of the default model's shape, for the baseline side of the benchmarks.

The benchmarks' baseline runs `transformers.pipeline` on a torch checkpoint (--hf-checkpoint).
Where the default's own checkpoint is not on this machine (runs/ is not in git), its shape is
enough for timing: the catalogue's all-MiniLM-L6-v2 weights (installed with the project, no
download) cut to the default's layers, with an untrained head of the emotion labels. Its labels
are meaningless; its cold start and latency are those of the default's architecture.

    python benchmarks/baseline_checkpoint.py runs/baseline/minilm-l2-shape
    python benchmarks/cold_start.py --hf-checkpoint runs/baseline/minilm-l2-shape --repeats 5 --emulator
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import REPO_ROOT, make_parser

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__file__, __doc__)
    parser.add_argument("output", type=Path, help="folder to write the checkpoint to")
    parser.add_argument("--keep-layers", default="0,3",
                        help="encoder layers kept, as `emotion-train distill --keep-layers` "
                             "(default 0,3: minilm-l2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO_ROOT))
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.catalogue import resolve_checkpoint
    from training.distill import keep_layers

    source, _ = resolve_checkpoint("minilm")
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)})
    keep_layers(model, tuple(int(i) for i in args.keep_layers.split(",")))
    model.save_pretrained(args.output)
    AutoTokenizer.from_pretrained(source).save_pretrained(args.output)
    print(f"{args.output}: {model.config.num_hidden_layers} layers of {source}")


if __name__ == "__main__":
    main()
