"""Benchmark models × variants (torch fp32, ONNX fp32, ONNX int8) × threads.

Every cell runs in a fresh Python process (`python -m training.benchmark WORKER_JSON`) so cold start
(process start → first prediction) and peak RSS are what a new Cloud Function instance would see.
ONNX variants go through `chat_emotion.runtime`, the function's own runtime. Accuracy does not depend
on the thread count, so it is scored once per model and variant (at the first thread count).

Writes benchmark.csv, benchmark.md, per_label_f1.md (rows: labels, columns: models — the seed
study's layout) and benchmark.png.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VARIANTS = ("torch-fp32", "onnx-fp32", "onnx-int8")
COLUMNS = [
    "model",
    "variant",
    "threads",
    "accuracy",
    "macro_f1",
    "size_mb",
    "cold_start_s",
    "latency_ms_p50",
    "latency_ms_p95",
    "throughput_msg_s",
    "peak_rss_mb",
]


@dataclass(kw_only=True)
class BenchmarkOptions:
    models: dict[str, str]
    """Display name → checkpoint folder (written by train / distill)."""
    data: str
    output_dir: str
    variants: tuple[str, ...] = VARIANTS
    threads: tuple[int, ...] = (1, 2)
    max_samples: int | None = 2000
    latency_samples: int = 200
    command: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.variants) - set(VARIANTS)
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
        if not self.models:
            raise ValueError("give at least one --model NAME=CHECKPOINT")
        for name, folder in self.models.items():
            if not (Path(folder) / "training.json").is_file():
                raise ValueError(f"{name}: {folder} is not a checkpoint written by train/distill")
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError(f"threads must be positive integers, got {self.threads}")


@dataclass
class Job:
    """One cell, handed to the worker process as JSON."""

    variant: str
    path: str
    threads: int
    data: str
    max_samples: int | None
    latency_samples: int
    score: bool
    labels: list[str] = field(default_factory=list)


def worker(job: Job) -> dict[str, Any]:
    """Runs inside the fresh process: load, first prediction, then latency, throughput and accuracy."""
    import numpy as np

    if job.variant == "torch-fp32":
        import torch

        torch.set_num_threads(job.threads)
        from training.evaluate import CheckpointPredictor

        predictor: Any = CheckpointPredictor(Path(job.path), job.threads)
    else:
        from training.evaluate import ArtifactPredictor

        predictor = ArtifactPredictor(Path(job.path), job.threads)
    predictor.probabilities(["i feel fine today"], 1)
    first_prediction_at = time.time()

    from training.data import load_dataset
    from training.evaluate import batch1_latency, score

    data = load_dataset(job.data, "validation", label_names=predictor.labels).head(job.max_samples)
    result: dict[str, Any] = {
        "first_prediction_at": first_prediction_at,
        **batch1_latency(predictor, data.texts, job.latency_samples),
    }
    started = time.perf_counter()
    predictor.probabilities(data.texts[:512], 32)
    result["throughput_msg_s"] = min(512, len(data)) / (time.perf_counter() - started)
    if job.score:
        metrics, _ = score(predictor, data)
        result |= {k: metrics[k] for k in ("accuracy", "macro_f1", "per_label_f1")}
    result["peak_rss_mb"] = peak_rss_mb()
    result["numpy"] = np.__version__
    return result


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec,
    so a worker would report its (large) parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_cell(job: Job) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(job.threads), TQDM_DISABLE="1")
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "training.benchmark", json.dumps(asdict(job))],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {job.variant} {job.path}:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cold_start_s"] = result.pop("first_prediction_at") - spawned
    return result


def variant_path(
    name: str, checkpoint: str, variant: str, exports: Path, data: str, samples: int | None
) -> tuple[str, float]:
    """(folder to load, model file size in MB), exporting the ONNX variants on first use; the export's
    drift check runs on the benchmark's own data (a handful of probe sentences is too noisy a gate)."""
    from chat_emotion.artifact import MODEL_FILE

    if variant == "torch-fp32":
        weights = sum(p.stat().st_size for p in Path(checkpoint).glob("*.safetensors"))
        return checkpoint, weights / 2**20
    from training.export import ExportOptions, export

    target = exports / f"{name}-{variant.removeprefix('onnx-')}"
    if not (target / MODEL_FILE).is_file():
        export(
            ExportOptions(
                checkpoint=checkpoint,
                output_dir=str(target),
                name=_safe(name),
                version="bench",
                quantization=variant.removeprefix("onnx-"),
                eval_data=data,
                max_eval_samples=samples,
            )
        )
    return str(target), (target / MODEL_FILE).stat().st_size / 2**20


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower())[:64] or "model"


def run_benchmark(options: BenchmarkOptions) -> str:
    """Run every cell, write the tables and plots, return the Markdown table."""
    from rich.progress import Progress

    out = Path(options.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    per_label: dict[str, dict[str, float]] = {}
    cells = [(n, v, t) for n in options.models for v in options.variants for t in options.threads]
    with Progress() as progress:
        task = progress.add_task("benchmark", total=len(cells))
        for name, variant in ((n, v) for n in options.models for v in options.variants):
            path, size = variant_path(
                name, options.models[name], variant, out / "exports", options.data, options.max_samples
            )
            scored: dict[str, Any] = {}
            for threads in options.threads:
                progress.update(task, description=f"{name} {variant} ×{threads}")
                result = run_cell(
                    Job(
                        variant,
                        path,
                        threads,
                        options.data,
                        options.max_samples,
                        options.latency_samples,
                        score=not scored,
                    )
                )
                scored = scored or {k: result[k] for k in ("accuracy", "macro_f1", "per_label_f1")}
                rows.append(
                    {
                        "model": name,
                        "variant": variant,
                        "threads": threads,
                        "size_mb": size,
                        **{k: v for k, v in result.items() if k in COLUMNS},
                        **{k: scored[k] for k in ("accuracy", "macro_f1")},
                    }
                )
                progress.advance(task)
            per_label[f"{name} ({variant})"] = scored["per_label_f1"]
    write_csv(rows, out / "benchmark.csv")
    table = markdown_table(rows)
    (out / "benchmark.md").write_text(f"# Benchmark\n\n`{options.command}`\n\n{table}\n", encoding="utf-8")
    (out / "per_label_f1.md").write_text(per_label_table(per_label) + "\n", encoding="utf-8")
    plot(rows, out / "benchmark.png")
    return table


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| model | variant | threads | accuracy | macro-F1 | size MB | cold start s | p50 ms | p95 ms "
        "| msg/s (batch 32) | peak RSS MB |"
    )
    lines = [header, "|" + " --- |" * 11]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['threads']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} "
            f"| {r['size_mb']:.1f} | {r['cold_start_s']:.2f} | {r['latency_ms_p50']:.1f} "
            f"| {r['latency_ms_p95']:.1f} | {r['throughput_msg_s']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def per_label_table(per_label: dict[str, dict[str, float]]) -> str:
    """Rows: labels; columns: models (the seed study's per-emotion F1 layout)."""
    models = list(per_label)
    labels = list(next(iter(per_label.values()))) if per_label else []
    lines = ["| label | " + " | ".join(models) + " |", "|" + " --- |" * (len(models) + 1)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{per_label[m][label]:.3f}" for m in models) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Three panels: batch-1 p50 latency, cold start, accuracy against size; colour = variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    colour = {v: f"C{i}" for i, v in enumerate(variants)}
    ordered = rows[::-1]  # barh draws bottom-up: keep the table's first row on top
    labels = [f"{r['model']} {r['variant']} ×{r['threads']}" for r in ordered]
    colours = [colour[r["variant"]] for r in ordered]
    fig, axes = plt.subplots(1, 3, figsize=(17, max(5.0, 1.5 + 0.2 * len(rows))))
    axes[0].barh(labels, [r["latency_ms_p50"] for r in ordered], color=colours)
    axes[0].set_xscale("log")  # torch under contention is 100x the int8 students
    axes[0].set_xlabel("batch-1 latency p50 (ms, log)")
    axes[1].barh(labels, [r["cold_start_s"] for r in ordered], color=colours)
    axes[1].set_xlabel("cold start: new process → first prediction (s)")
    axes[1].set_yticklabels([])
    for variant in variants:
        points = [r for r in rows if r["variant"] == variant and r["threads"] == rows[0]["threads"]]
        axes[2].scatter(
            [r["size_mb"] for r in points],
            [r["accuracy"] for r in points],
            color=colour[variant],
            label=variant,
        )
    for r in rows:  # one name per model, beside its smallest file
        if r is min((q for q in rows if q["model"] == r["model"]), key=lambda q: q["size_mb"]):
            axes[2].annotate(
                r["model"],
                (r["size_mb"], r["accuracy"]),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
            )
    axes[2].set_xscale("log")
    axes[2].set_xlabel("model file size (MB, log)")
    axes[2].set_ylabel("accuracy")
    axes[2].legend(fontsize=8)
    axes[0].tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    print(json.dumps(worker(Job(**json.loads(sys.argv[1])))))
