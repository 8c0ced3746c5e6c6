"""The benchmark runs each cell in a fresh process and writes its tables and plot."""

from __future__ import annotations

import csv

import pytest

from training.benchmark import BenchmarkOptions, per_label_table, run_benchmark
from training.train import train
from training.training_args import TrainConfig


def test_benchmark_one_model_two_variants(tmp_path, tiny_models, emotion_dir):
    checkpoint = tmp_path / "ck"
    train(
        TrainConfig(
            model=str(tiny_models["bert"]),
            data=str(emotion_dir),
            output_dir=str(checkpoint),
            epochs=1,
            threads=1,
            logging_steps=1000,
        )
    )
    out = tmp_path / "bench"
    table = run_benchmark(
        BenchmarkOptions(
            models={"tiny": str(checkpoint)},
            data=str(emotion_dir),
            output_dir=str(out),
            variants=("torch-fp32", "onnx-int8"),
            threads=(1,),
            max_samples=60,
            latency_samples=10,
            command="pytest",
        )
    )
    rows = list(csv.DictReader((out / "benchmark.csv").read_text().splitlines()))
    assert [(r["variant"], r["threads"]) for r in rows] == [("torch-fp32", "1"), ("onnx-int8", "1")]
    for row in rows:
        assert 0 < float(row["cold_start_s"]) < 120 and float(row["latency_ms_p50"]) > 0
        assert float(row["peak_rss_mb"]) > 50 and 0 <= float(row["accuracy"]) <= 1
    assert all(float(r["size_mb"]) > 0 for r in rows)
    assert "| tiny | onnx-int8 | 1 |" in table
    assert (out / "benchmark.png").stat().st_size > 10_000
    assert "| sadness |" in (out / "per_label_f1.md").read_text()


def test_per_label_table_layout():
    table = per_label_table({"a": {"joy": 0.5, "fear": 0.25}, "b": {"joy": 1.0, "fear": 0.0}})
    assert table.splitlines()[0] == "| label | a | b |"
    assert "| fear | 0.250 | 0.000 |" in table


def test_options_refuse_unknown_variants(tmp_path):
    with pytest.raises(ValueError, match="unknown variants"):
        BenchmarkOptions(models={"x": str(tmp_path)}, data="d", output_dir="o", variants=("tf-lite",))
