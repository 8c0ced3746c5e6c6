"""Training package: fine-tune, distil, export, evaluate, benchmark and publish emotion classifiers.

Read top-down: data.py (datasets) → training_args.py (settings) → train.py / distill.py → export.py
(ONNX artifact) → evaluate.py / benchmark.py → publish.py; cli.py wires them to `emotion-train`.
"""
