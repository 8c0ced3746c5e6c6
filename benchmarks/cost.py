"""Cost per million messages from measured throughput and prices you supply.

Every price is an input (a flag). The defaults are Cloud Run functions (Cloud Functions 2nd gen),
Tier 1 region, request-based billing, as last published before 2026-11 and NOT verified here (this
machine is offline): check https://cloud.google.com/functions/pricing and
https://cloud.google.com/firestore/pricing and pass the current figures. Free tiers are ignored.

Throughputs are inputs too: pass what benchmarks/load.py measured (messages per second of one
instance at the given concurrency) and what benchmarks/warm.py measured (one message alone).

Two traffic shapes per side:
  busy    the instance is kept full (CONCURRENCY events in flight): instance-seconds per message
          = 1 / (messages per instance-second), shared by concurrent events;
  sparse  messages arrive one at a time: each bills its own duration, rounded up to
          --billing-increment-ms (100 ms for request-based billing).
A cold start adds its own duration once per new instance (--cold-starts-per-million).

    python benchmarks/cost.py --onnx-msg-s 150 --baseline-msg-s 12 --onnx-ms 12 --baseline-ms 110 \\
        --onnx-cold-s 1.5 --baseline-cold-s 9
"""

from __future__ import annotations

import argparse
import math


def instance_cost_per_s(args: argparse.Namespace, memory_gib: float) -> float:
    return args.vcpu * args.price_vcpu_s + memory_gib * args.price_gib_s


def per_million(
    args: argparse.Namespace, msg_s: float, one_ms: float, cold_s: float, memory_gib: float
) -> dict[str, float]:
    per_s = instance_cost_per_s(args, memory_gib)
    fixed = args.price_million_invocations + 1e6 * (
        args.firestore_reads * args.price_read + args.firestore_writes * args.price_write
    )
    cold = args.cold_starts_per_million * cold_s * per_s
    billed_one_s = math.ceil(one_ms / args.billing_increment_ms) * args.billing_increment_ms / 1000.0
    return {
        "compute_busy": 1e6 / msg_s * per_s,
        "compute_sparse": 1e6 * billed_one_s * per_s,
        "cold": cold,
        "fixed": fixed,
        "total_busy": 1e6 / msg_s * per_s + cold + fixed,
        "total_sparse": 1e6 * billed_one_s * per_s + cold + fixed,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/cost.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    measured = parser.add_argument_group("measured here (pass your own figures)")
    measured.add_argument(
        "--onnx-msg-s", type=float, required=True, help="ONNX: messages per instance-second, busy"
    )
    measured.add_argument(
        "--baseline-msg-s", type=float, required=True, help="baseline: messages per instance-second"
    )
    measured.add_argument(
        "--onnx-ms", type=float, required=True, help="ONNX: one message alone, ms (incl. writes)"
    )
    measured.add_argument("--baseline-ms", type=float, required=True, help="baseline: one message alone, ms")
    measured.add_argument("--onnx-cold-s", type=float, default=0.0, help="ONNX cold start, s")
    measured.add_argument("--baseline-cold-s", type=float, default=0.0, help="baseline cold start, s")
    shape = parser.add_argument_group("instance and traffic")
    shape.add_argument("--vcpu", type=float, default=1.0, help="vCPUs per instance (main.py: cpu=1)")
    shape.add_argument(
        "--memory-gib", type=float, default=0.25, help="ONNX instance memory, GiB (default 0.25)"
    )
    shape.add_argument(
        "--baseline-memory-gib",
        type=float,
        default=1.0,
        help="baseline instance memory, GiB (default 1: it peaks above 512 MiB)",
    )
    shape.add_argument(
        "--cold-starts-per-million",
        type=float,
        default=1000.0,
        help="new instances per million messages (default 1000)",
    )
    shape.add_argument(
        "--firestore-reads", type=float, default=1.0, help="document reads per message (claim)"
    )
    shape.add_argument("--firestore-writes", type=float, default=2.0, help="document writes per message")
    prices = parser.add_argument_group(
        "prices in USD: defaults as last published before 2026-11, unverified; check the pricing pages"
    )
    prices.add_argument(
        "--price-vcpu-s", type=float, default=0.000024, help="per vCPU-second (default 0.000024)"
    )
    prices.add_argument(
        "--price-gib-s", type=float, default=0.0000025, help="per GiB-second (default 0.0000025)"
    )
    prices.add_argument(
        "--price-million-invocations", type=float, default=0.40, help="per million invocations (default 0.40)"
    )
    prices.add_argument(
        "--price-read",
        type=float,
        default=0.03 / 100_000,
        help="Firestore, per document read (default 0.03 per 100k)",
    )
    prices.add_argument(
        "--price-write",
        type=float,
        default=0.09 / 100_000,
        help="Firestore, per document write (default 0.09 per 100k)",
    )
    prices.add_argument(
        "--billing-increment-ms", type=float, default=100.0, help="billed duration rounding (default 100 ms)"
    )
    args = parser.parse_args(argv)
    sides = {
        "onnx": per_million(args, args.onnx_msg_s, args.onnx_ms, args.onnx_cold_s, args.memory_gib),
        "baseline": per_million(
            args, args.baseline_msg_s, args.baseline_ms, args.baseline_cold_s, args.baseline_memory_gib
        ),
    }
    print(
        f"instance-second: onnx {args.vcpu:g} vCPU + {args.memory_gib:g} GiB = "
        f"${instance_cost_per_s(args, args.memory_gib):.8f}, baseline {args.vcpu:g} vCPU + "
        f"{args.baseline_memory_gib:g} GiB = ${instance_cost_per_s(args, args.baseline_memory_gib):.8f}; "
        f"{args.cold_starts_per_million:g} cold starts per million messages"
    )
    print(f"{'USD per million messages':26} {'onnx':>10} {'baseline':>10} {'ratio':>7}")
    rows = [
        ("compute, busy instance", "compute_busy"),
        ("compute, sparse traffic", "compute_sparse"),
        ("cold starts", "cold"),
        ("invocations + Firestore", "fixed"),
        ("total, busy", "total_busy"),
        ("total, sparse", "total_sparse"),
    ]
    for label, key in rows:
        o, b = sides["onnx"][key], sides["baseline"][key]
        ratio = f"{b / o:6.1f}x" if o > 0 else "      -"
        print(f"{label:26} {o:10.2f} {b:10.2f} {ratio}")
    print(f"messages per instance-second: onnx {args.onnx_msg_s:g}, baseline {args.baseline_msg_s:g}")


if __name__ == "__main__":
    main()
