"""Draw the ONNX-vs-baseline figures of docs/PERFORMANCE.md as one bar chart per metric.

    python benchmarks/plot_summary.py [--figures FILE.json] [--output FILE.png]

The JSON maps a metric name to {"onnx": value, "pipeline": value} (keys starting with "_" are
not drawn; "_title" is the figure's title); update it from the benchmarks' output, then redraw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/plot_summary.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--figures", type=Path, default=REPO_ROOT / "docs" / "performance" / "summary.json")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "performance" / "summary.png")
    args = parser.parse_args(argv)
    data = json.loads(args.figures.read_text())
    figures = {k: v for k, v in data.items() if not k.startswith("_")}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(figures), figsize=(3.2 * len(figures), 3.6))
    for ax, (metric, sides) in zip(axes, figures.items(), strict=True):
        bars = ax.bar(list(sides), list(sides.values()), color=["#2a7", "#c53"])
        ax.bar_label(bars, fmt="%g", fontsize=8)
        ratio = max(sides.values()) / min(sides.values())
        ax.set_title(f"{metric}\n{ratio:.1f}x", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle(data.get("_title", "ONNX int8 function vs transformers.pipeline baseline"), fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")
    for metric, sides in figures.items():
        print(f"{metric:45} onnx {sides['onnx']:>8g}  pipeline {sides['pipeline']:>8g}")


if __name__ == "__main__":
    main()
