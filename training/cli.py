"""`emotion-train` / `python -m training`: train, distill, export, evaluate, benchmark, rewrite, publish.

Heavy libraries are imported inside each command so `--help` answers at once. Settings that a CI
job or a shell profile would rather set once have an environment twin, named in each `--help`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from training.catalogue import catalogue, seed
from training.students import REHOUSABLE

EPILOG_DATA = (
    "DATA is a file (.txt 'text;label' lines, GoEmotions .tsv, .csv, .jsonl), a folder with "
    "train/validation files (e.g. ../shared/data/emotion), or a hub dataset name ('emotion', "
    "'goemotions'; needs the optional `datasets` library and network)."
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one worth reading: not for required options, flags,
    or options whose help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.required or action.default in (None, False, [], argparse.SUPPRESS)
                or "default" in text or "%(default)" in text):
            return text
        return super()._get_help_string(action)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def _threads_default() -> int | None:
    value = _env("EMOTION_THREADS")
    return int(value) if value else None


def _command_line() -> str:
    return "emotion-train " + shlex.join(sys.argv[1:])


def _add_train_options(p: argparse.ArgumentParser) -> None:
    s = seed()
    p.add_argument("--data", required=True, help="training data (see below)")
    p.add_argument(
        "--eval-data",
        help="evaluation data; default: the validation split of --data when it is a folder or hub name",
    )
    p.add_argument("--output", "-o", required=True, help="checkpoint folder to write")
    p.add_argument(
        "--lr", type=float, default=s.learning_rate, help="peak learning rate (default %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=s.batch_size, help="default %(default)s")
    p.add_argument("--epochs", type=float, default=float(s.epochs), help="default %(default)s")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text (default %(default)s)")
    p.add_argument("--warmup-ratio", type=float, default=0.0, help="default %(default)s")
    p.add_argument("--weight-decay", type=float, default=0.01, help="default %(default)s")
    p.add_argument(
        "--threshold", type=float, default=0.30, help="multi-label sigmoid threshold (default %(default)s)"
    )
    p.add_argument(
        "--pos-weight",
        type=float,
        default=0.0,
        metavar="POWER",
        help="multi-label: weigh each label's positives by (negatives/positives)**POWER in the loss; "
        "0.5 lifts rare labels (default %(default)s: unweighted)",
    )
    p.add_argument(
        "--asl-gamma-neg",
        type=float,
        default=0.0,
        metavar="GAMMA",
        help="multi-label: the asymmetric loss instead of BCE, each negative's term scaled by "
        "max(p - CLIP, 0)**GAMMA, so the many easy negatives stop drowning the few positives; 4 is "
        "the paper's (default %(default)s: BCE)",
    )
    p.add_argument("--asl-clip", type=float, default=0.05, metavar="CLIP",
                   help="multi-label asymmetric loss: negatives below this probability cost nothing "
                        "(default %(default)s)")
    p.add_argument(
        "--no-group-by-length",
        dest="group_by_length",
        action="store_false",
        help="shuffle freely instead of batching texts of similar length",
    )
    p.add_argument("--max-train-samples", type=int, help="train on a seeded random sample")
    p.add_argument("--max-eval-samples", type=int, help="evaluate on a seeded random sample")
    p.add_argument(
        "--selection-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="hold this fraction of the training rows out (by a hash of each text: the same rows every "
        "run) to choose on: each epoch's evaluation and multi-label thresholds use it, and the validation "
        "split is scored once at the end as unseen text (default %(default)s: no slice, validation "
        "chooses; 0.1 is the recipe's)",
    )
    p.add_argument(
        "--final",
        action="store_true",
        help="the final run of a recipe fixed on a selection slice: train on all of train (no slice), "
        "evaluate nothing per epoch, score the validation split once at the end as unseen text; "
        "single-label data only (multi-label thresholds need a slice)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_threads_default(),
        help="torch CPU threads (env EMOTION_THREADS; default: torch's choice)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--text-column", default="text", help="CSV/JSONL text column (default %(default)s)")
    p.add_argument("--label-column", default="label", help="CSV/JSONL label column (default %(default)s)")
    p.add_argument("--labels", help="comma-separated label names in id order, when the data cannot say")
    p.add_argument("--logging-steps", type=int, default=50)


def _layer_list(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer numbers like 0,2,4, got {value!r}") from None


def _train_fields(args: argparse.Namespace) -> dict:
    return dict(
        model=args.model,
        data=args.data,
        eval_data=args.eval_data,
        output_dir=args.output,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        max_length=args.max_length,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        threshold=args.threshold,
        pos_weight=args.pos_weight,
        asl_gamma_neg=args.asl_gamma_neg,
        asl_clip=args.asl_clip,
        group_by_length=args.group_by_length,
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
        selection_fraction=args.selection_fraction,
        final=args.final,
        threads=args.threads,
        seed=args.seed,
        text_column=args.text_column,
        label_column=args.label_column,
        labels=args.labels.split(",") if args.labels else None,
        logging_steps=args.logging_steps,
        command=_command_line(),
    )


def _summary(info) -> None:
    ev = info.evaluation
    if ev:
        print(
            f"evaluation on {ev['dataset']} ({ev['examples']} examples): accuracy {ev['accuracy']:.4f}, "
            f"macro-F1 {ev['macro_f1']:.4f}"
        )
    if info.epoch_seconds:
        print("seconds per epoch:", ", ".join(f"{s:.0f}" for s in info.epoch_seconds))


def cmd_train(args: argparse.Namespace) -> None:
    from training.train import train
    from training.training_args import TrainConfig

    info = train(TrainConfig(**_train_fields(args)))
    _summary(info)
    print(f"checkpoint: {args.output}")


def cmd_distill(args: argparse.Namespace) -> None:
    from training.distill import distill
    from training.training_args import DistillConfig

    config = DistillConfig(
        **_train_fields(args),
        teacher=args.teacher,
        temperature=args.temperature,
        alpha=args.alpha,
        layers=args.layers,
        hidden=args.hidden,
        heads=args.heads,
        intermediate=args.intermediate,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        keep_layers=tuple(args.keep_layers),
        keep_ffn=args.keep_ffn,
        as_architecture=args.as_architecture or "",
        transfer_data=args.transfer_data,
        augment=args.augment,
    )
    info = distill(config)
    _summary(info)
    teacher = info.distillation or {}
    if "teacher_evaluation" in teacher:
        tev = teacher["teacher_evaluation"]
        print(f"teacher on the same data: accuracy {tev['accuracy']:.4f}, macro-F1 {tev['macro_f1']:.4f}")
    print(f"student checkpoint: {args.output}")


def cmd_export(args: argparse.Namespace) -> None:
    from training.export import ExportOptions, export

    options = ExportOptions(
        checkpoint=args.checkpoint,
        output_dir=args.output,
        name=args.name,
        version=args.version,
        quantization="fp32" if args.fp32 else "int8",
        tolerance=args.tolerance,
        min_agreement=args.min_agreement,
        eval_data=args.eval_data,
        max_eval_samples=args.max_eval_samples,
        optimize=not args.no_optimize,
        opset=args.opset,
        threads=args.threads,
        command=_command_line(),
        description=args.description or "",
        retune_thresholds=args.retune_thresholds,
    )
    _wrote(args.output, export(options))


def _wrote(output: str, manifest) -> None:
    """`wrote OUTPUT: NAME@VERSION (int8), accuracy …, macro-F1 …` for a new artifact folder."""
    ev = manifest.evaluation
    print(
        f"wrote {output}: {manifest.ref} ({manifest.quantization})"
        + (f", accuracy {ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f}" if "accuracy" in ev else "")
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from training.evaluate import evaluate, format_report

    report = evaluate(
        args.model,
        args.data,
        split=args.split,
        max_samples=args.max_samples,
        threads=args.threads,
        batch_size=args.batch_size,
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


def cmd_benchmark(args: argparse.Namespace) -> None:
    from training.benchmark import BenchmarkOptions, run_benchmark

    models = dict(item.split("=", 1) if "=" in item else (Path(item).name, item) for item in args.model)
    options = BenchmarkOptions(
        models=models,
        data=args.data,
        output_dir=args.output,
        variants=tuple(args.variants.split(",")),
        threads=tuple(int(t) for t in args.threads.split(",")),
        max_samples=args.max_samples,
        latency_samples=args.latency_samples,
        command=_command_line(),
    )
    table = run_benchmark(options)
    print(table)


def cmd_thresholds(args: argparse.Namespace) -> None:
    from training.thresholds import tune_checkpoint

    result = tune_checkpoint(args.checkpoint, args.data, threads=args.threads)
    print(
        f"{result['dataset']} ({result['examples']} texts): macro-F1 {result['macro_f1_at_0_5']:.4f} at 0.5, "
        f"{result['macro_f1_at_best_single']:.4f} at the best single threshold "
        f"({result['best_single_threshold']:.2f}), {result['macro_f1_per_label_thresholds']:.4f} with "
        "per-label thresholds (tuned on these same texts: expect less on unseen text)"
    )
    width = max(len(label) for label in result["thresholds"]) + 2
    for label, cut in result["thresholds"].items():
        print(f"  {label:<{width}}threshold {cut:.2f}   F1 {result['per_label_f1'][label]:.4f}")
    print(f"recorded in {Path(args.checkpoint) / 'training.json'}; `emotion-train export` carries them "
          "into the manifest")


def cmd_rewrite(args: argparse.Namespace) -> None:
    from training.rewrite import PASSES, rewrite

    passes = args.passes or list(PASSES)  # `unfuse` sets its one pass as its default
    _wrote(args.output, rewrite(args.artifact, args.output, passes=passes, version=args.version,
                                eval_data=args.eval_data, threads=args.threads or 1, command=_command_line()))


def cmd_publish(args: argparse.Namespace) -> None:
    from training.publish import publish

    where = publish(
        args.artifact, args.store, name=args.name, version=args.version, make_default=args.default
    )
    print(f"published {where}")


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(sorted(catalogue()))
    parser = argparse.ArgumentParser(
        prog="emotion-train",
        description="Fine-tune, distil, export (ONNX int8), evaluate, benchmark and publish the emotion "
        "classifiers the Cloud Function serves.",
        epilog="Typical flow: train → export → evaluate → publish. See `emotion-train COMMAND --help`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable, help_: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=description,
            epilog=EPILOG_DATA,
            formatter_class=_HelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = command(
        "train",
        cmd_train,
        "fine-tune a classifier",
        f"Fine-tune a sequence classifier with the Hugging Face Trainer. MODEL is a catalogue name "
        f"({names}), a local model folder or a hub id. Writes a checkpoint folder (weights, "
        "tokenizer, training.json with the per-epoch times and the final evaluation). "
        "Example: emotion-train train minilm --data ../shared/data/emotion -o runs/minilm --epochs 3",
    )
    p.add_argument("model", help="catalogue name, model folder or hub id")
    _add_train_options(p)

    p = command(
        "distill",
        cmd_distill,
        "distil a teacher into a small student",
        "Knowledge distillation: the teacher's temperature-softened logits (plus the true labels, "
        "weighted by 1-alpha) train a smaller student. MODEL is an architecture to build small from "
        "scratch (bert, distilbert, roberta, electra, mobilebert; sized by --layers/--hidden) or a "
        "model folder / hub id. Reports the student's and the teacher's scores. Example: emotion-train "
        "distill bert --teacher runs/minilm --data ../shared/data/emotion -o runs/bert-student",
    )
    p.add_argument("model", help="student architecture or model")
    p.add_argument(
        "--teacher",
        required=True,
        help="fine-tuned teacher: a checkpoint folder or an exported artifact; several separated by "
        "commas distil their mean logits (an ensemble), e.g. --teacher runs/minilm,runs/minilm-s7",
    )
    p.add_argument("--temperature", type=float, default=2.0, help="softening temperature T")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the distillation loss (0..1)")
    p.add_argument("--layers", type=int, default=4, help="student layers (built from scratch)")
    p.add_argument("--hidden", type=int, default=128, help="student hidden size")
    p.add_argument("--heads", type=int, default=2, help="student attention heads")
    p.add_argument("--intermediate", type=int, default=512, help="student feed-forward size")
    p.add_argument(
        "--tokenizer",
        choices=("own", "teacher"),
        default="own",
        help="train a tokenizer on the data (WordPiece, or byte-level BPE for roberta) or reuse "
        "the teacher's",
    )
    p.add_argument("--vocab-size", type=int, default=8000, help="vocabulary of an own tokenizer")
    p.add_argument(
        "--keep-layers",
        type=_layer_list,
        default=[],
        metavar="0,3",
        help="pretrained student only: keep these encoder layers (0-based) and drop the rest; e.g. "
        "MODEL=runs/minilm --keep-layers 0,3 starts from two of the fine-tuned 6-layer model's own "
        "layers (how the default minilm-l2 was made)",
    )
    p.add_argument(
        "--keep-ffn",
        type=int,
        default=0,
        metavar="N",
        help="pretrained BERT-family student only: keep N feed-forward neurons per layer (the largest "
        "by weight norm; 0 keeps all); e.g. minilm --keep-layers 0,2,4 --keep-ffn 768 is three "
        "layers at the compute of two",
    )
    p.add_argument(
        "--as",
        dest="as_architecture",
        choices=REHOUSABLE,
        help="pretrained BERT-family student only: re-house its weights (after --keep-layers) in this "
        "architecture, the same encoder with a new head and the start's WordPiece tokenizer; e.g. "
        "minilm --as distilbert --keep-layers 0,3 is a two-layer DistilBERT from MiniLM's layers",
    )
    p.add_argument(
        "--transfer-data",
        help="more texts for the teacher to label (a file or folder; its train split, labels ignored), "
        "trained on with the soft loss alone; e.g. ../shared/data/goemotions for the emotion student",
    )
    p.add_argument(
        "--augment",
        type=int,
        default=0,
        metavar="N",
        help="N variants of each training text, each word swapped with probability 0.4 for one of its "
        "15 nearest neighbours in the student's embeddings (a student built from scratch: those of the "
        "model its teacher grew from), labelled by the teacher and trained on with the soft loss alone "
        "(TinyBERT's augmentation); e.g. 4 (0: none)",
    )
    _add_train_options(p)
    p.set_defaults(lr=5e-4)

    p = command(
        "export",
        cmd_export,
        "write an ONNX model artifact (int8 by default)",
        "Export a checkpoint to a model artifact folder: model.onnx (fused by ONNX Runtime's "
        "transformer optimizer where it applies, dynamic int8 unless --fp32), tokenizer.json and "
        "manifest.json (labels, problem type, threshold, sha256, evaluation, the command). The "
        "artifact is checked through the function's runtime against the torch model: if the mean "
        "absolute probability difference exceeds --tolerance, or the decisions agree on fewer texts "
        "than --min-agreement, nothing is written. Example: emotion-train export runs/minilm "
        "-o runs/export/minilm --eval-data ../shared/data/emotion",
    )
    p.add_argument("checkpoint", help="checkpoint folder written by train or distill")
    p.add_argument(
        "--output", "-o", required=True, help="artifact folder to write (must not exist or be empty)"
    )
    p.add_argument("--name", help="catalogue name recorded in the manifest (default: the base's name)")
    p.add_argument("--version", help="version (default: UTC date and time, e.g. 2026-11-25.1042)")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (no quantization)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="max mean absolute probability difference vs torch (default 0.03 int8, 1e-4 fp32)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="min share of texts with the same decision as torch (default 0.97 int8, 0.999 fp32)",
    )
    p.add_argument(
        "--eval-data",
        help="data to check drift on and record in the manifest (its validation "
        "split); without it a built-in set of sentences checks drift",
    )
    p.add_argument("--max-eval-samples", type=int, help="evaluate on a seeded random sample")
    p.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer fusion")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--description", help="what the model is, for the manifest and the model card")
    p.add_argument(
        "--retune-thresholds",
        action="store_true",
        help="multi-label: tune the per-label thresholds again on the exported model's own "
        "probabilities, instead of keeping the checkpoint's: over the selection slice the checkpoint "
        "held out of train (drawn again from its training data by the same rule), or over --eval-data "
        "when it had none (then the validation figure is not unseen)",
    )
    p.add_argument("--threads", type=int, default=_threads_default(), help="env EMOTION_THREADS")

    p = command(
        "thresholds",
        cmd_thresholds,
        "tune a multi-label model's per-label thresholds",
        "Tune a threshold per label for a multi-label checkpoint on the validation split of DATA "
        "(each label's F1-best on a 0.05..0.95 grid; labels with fewer than 5 positives keep the best "
        "single threshold), print macro-F1 at 0.5, at the best single threshold and per label, and "
        "record the thresholds in the checkpoint's training.json for export. Select on validation "
        "data only, never on a test split. Example: emotion-train thresholds runs/goemotions "
        "--data ../shared/data/goemotions",
    )
    p.add_argument("checkpoint", help="multi-label checkpoint folder written by train or distill")
    p.add_argument("--data", required=True, help="data whose validation split tunes the thresholds")
    p.add_argument("--threads", type=int, default=_threads_default(), help="env EMOTION_THREADS")

    p = command(
        "evaluate",
        cmd_evaluate,
        "score a checkpoint or an artifact",
        "Accuracy, macro-F1, per-label precision/recall/F1, confusion matrix and time per message "
        "for a torch checkpoint or an exported artifact (run through the Cloud Function's own "
        "runtime, chat_emotion.runtime). Example: emotion-train evaluate models/store/minilm "
        "--data ../shared/data/emotion",
    )
    p.add_argument(
        "model", help="checkpoint folder, artifact folder, or a store reference STORE/NAME[/VERSION]"
    )
    p.add_argument("--data", required=True, help="evaluation data")
    p.add_argument(
        "--split",
        default="validation",
        choices=("train", "validation", "test"),
        help="split when DATA is a folder or hub name",
    )
    p.add_argument("--max-samples", type=int, help="a seeded random sample of the data")
    p.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="texts per inference call (default 1, as the function serves a message: an int8 model's "
        "scores move slightly with the batch, whose activations share one quantization scale)",
    )
    p.add_argument("--threads", type=int, default=_threads_default(), help="env EMOTION_THREADS")
    p.add_argument("--json", help="also write the full report to this JSON file")

    p = command(
        "benchmark",
        cmd_benchmark,
        "compare models × variants × threads",
        "For each model, variant (torch-fp32, onnx-fp32, onnx-int8) and thread count, in a fresh "
        "process each: accuracy, macro-F1, file size, cold start (process start → first prediction), "
        "p50/p95 latency at batch 1, throughput, peak RSS. Writes benchmark.md, benchmark.csv, "
        "per_label_f1.md (rows: labels, columns: models, the seed study's layout) and PNG plots. "
        "MODEL is NAME=CHECKPOINT_DIR (ONNX variants are exported on the fly into OUTPUT), repeatable. "
        "Example: emotion-train benchmark --model minilm=runs/minilm --data ../shared/data/emotion "
        "-o runs/bench",
    )
    p.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT_DIR (repeatable)")
    p.add_argument("--data", required=True, help="evaluation data (validation split)")
    p.add_argument("--output", "-o", required=True, help="folder for the tables, plots and exports")
    p.add_argument("--variants", default="torch-fp32,onnx-fp32,onnx-int8", help="comma-separated")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--max-samples", type=int, default=2000, help="texts scored for accuracy")
    p.add_argument("--latency-samples", type=int, default=200, help="batch-1 calls timed for p50/p95")

    rewrite_gate = (
        "No torch checkpoint needed. The rewritten model is checked through the function's runtime "
        "against the source artifact, one text per call (export's drift defaults); otherwise nothing "
        "is written. --eval-data scores both versions on that data's validation split and records it "
        "(the scores gate nothing: the split chooses nothing).")
    for name, help_, description in (
        ("rewrite", "a faster graph for an exported artifact (same weights, same decisions)",
         "Write a new version of an exported artifact with its graph rewritten by every pass that "
         "applies (--pass to pick): unfuse-skip-layer-norms turns each fused SkipLayerNormalization "
         "into Add + LayerNormalization (ONNX Runtime 1.32's CPU kernel for the fused node is ~3x "
         "slower); first-row-only runs everything after the last attention that works row by row "
         "(output projection, feed-forward, LayerNorms) on the first token's row alone, the only row "
         "the classifier reads (docs/PERFORMANCE.md). Both are what export writes today. "
         f"{rewrite_gate} Example: emotion-train rewrite models/store/minilm-l2/2026-12-04 -o "
         "runs/export/minilm-l2-rows --version 2026-12-07 --eval-data ../shared/data/emotion"),
        ("unfuse", "rewrite an older artifact's SkipLayerNormalization (`rewrite`'s first pass alone)",
         "`emotion-train rewrite --pass unfuse-skip-layer-norms`: each fused SkipLayerNormalization "
         "rewritten as Add + LayerNormalization, as export writes them since 2026-12-04. "
         f"{rewrite_gate} Example: emotion-train unfuse models/store/minilm-l2/2026-11-25 -o "
         "runs/export/minilm-l2-unfused --version 2026-12-04 --eval-data ../shared/data/emotion"),
    ):
        p = command(name, cmd_rewrite, help_, description)
        p.add_argument("artifact", help="artifact folder (e.g. models/store/NAME/VERSION)")
        p.add_argument("--output", "-o", required=True, help="artifact folder to write (new or empty)")
        p.add_argument("--version", help="the new version (default: UTC date and time), not the source's")
        p.add_argument("--eval-data", help="data whose validation split is scored, recorded in the manifest")
        p.add_argument("--threads", type=int, default=_threads_default(), help="env EMOTION_THREADS")
        if name == "rewrite":
            from training.rewrite import PASSES

            p.add_argument("--pass", dest="passes", action="append", choices=list(PASSES),
                           help="a pass to apply (repeatable; default: all, in the order listed)")
        else:
            p.set_defaults(passes=["unfuse-skip-layer-norms"])

    p = command(
        "publish",
        cmd_publish,
        "copy an artifact into a model store",
        "Copy an exported artifact into a model store (a folder, or gs://BUCKET/PREFIX), verifying "
        "sha256, as NAME/VERSION/, update NAME/LATEST, and with --default write DEFAULT. "
        "Example: emotion-train publish runs/export/minilm --store models/store --default",
    )
    p.add_argument("artifact", help="artifact folder written by export")
    p.add_argument(
        "--store",
        default=_env("MODEL_STORE", "models/store"),
        help="model store folder or gs:// URI (env MODEL_STORE)",
    )
    p.add_argument("--name", help="override the manifest's name")
    p.add_argument("--version", help="override the manifest's version")
    p.add_argument("--default", action="store_true", help="make this model the store's default")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except ModuleNotFoundError as err:
        print(
            f"emotion-train {args.command}: error: {err.name or err} is not installed in this Python "
            f"({sys.executable}). Training needs the project's virtual environment: run `make setup`, then "
            "`.venv/bin/emotion-train ...` (or `source .venv/bin/activate` first)",
            file=sys.stderr,
        )
        return 2
    except (ValueError, OSError, RuntimeError) as err:
        print(f"emotion-train {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
