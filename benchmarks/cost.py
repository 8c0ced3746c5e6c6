"""Cost per million messages from measured throughput and prices you supply, and the owner's bill:
per 1,000 messages by part, the biggest part and how to cut it, and the ceiling under the defaults.

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

Per message, Firestore bills 4 writes (the app's create; the function's claim, its rate-limit
count, its result) and 2 reads (the claim; the app's poll, 1.00 per message as
benchmarks/tap_to_chip.py measured it). On-device models add Cloud Storage egress: one download of
--model-mb per new device or new version (--model-downloads-per-1000).

The ceiling: MAX_INSTANCES busy instances for a month (what the deploy defaults allow at most,
whoever sends), and what one person can cost in a month at RATE_PER_DAY (anonymous sign-in lets
one person be many: the instance cap is the bound that holds; App Check and email-only sign-in,
docs/DEPLOY.md, are what make the per-person figure mean a person).

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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
        "--firestore-reads", type=float, default=2.0,
        help="document reads per message (default 2: the claim, the app's poll)"
    )
    shape.add_argument(
        "--firestore-writes", type=float, default=4.0,
        help="document writes per message (default 4: create, claim, rate-limit count, result)",
    )
    shape.add_argument(
        "--model-downloads-per-1000", type=float, default=1.0,
        help="on-device model downloads per 1,000 messages (default 1: a new device or version)",
    )
    shape.add_argument(
        "--model-mb", type=float, default=15.6,
        help="one on-device download, MB (default 15.6: minilm-l2's model.onnx + tokenizer.json)",
    )
    shape.add_argument("--max-instances", type=int, default=10, help="MAX_INSTANCES (default 10)")
    shape.add_argument("--rate-per-day", type=int, default=1000, help="RATE_PER_DAY (default 1000)")
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
        "--price-egress-gb", type=float, default=0.12,
        help="Cloud Storage egress to the internet, per GB (default 0.12)",
    )
    prices.add_argument(
        "--billing-increment-ms", type=float, default=100.0, help="billed duration rounding (default 100 ms)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
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
    print()
    print_bill(args)


CUTS = {
    "compute": "request-based billing rounds each message up to --billing-increment-ms; concurrent "
               "messages share an instance's billed time (the busy figure), so traffic is the cut",
    "Firestore writes": "the claim write could go: write the result with the read's update time as its "
                        "precondition (still one result per message; a run that dies is then found by "
                        "the sweep alone, and a duplicate delivery runs the model twice)",
    "Firestore reads": "the app's poll is ~1 read per message already (adaptive schedule)",
    "invocations": "one per message by design (a Firestore trigger)",
    "cold starts": "MIN_INSTANCES=1 trades them for an instance kept warm",
    "model downloads": "versions are immutable: a device downloads a version once",
}


def bill(args: argparse.Namespace) -> dict[str, float]:
    """USD per 1,000 messages of the ONNX function, by part, sparse traffic (one message at a time)."""
    per_s = instance_cost_per_s(args, args.memory_gib)
    billed_s = math.ceil(args.onnx_ms / args.billing_increment_ms) * args.billing_increment_ms / 1000.0
    return {
        "invocations": 1000 * args.price_million_invocations / 1e6,
        "compute": 1000 * billed_s * per_s,
        "cold starts": args.cold_starts_per_million / 1000 * args.onnx_cold_s * per_s,
        "Firestore writes": 1000 * args.firestore_writes * args.price_write,
        "Firestore reads": 1000 * args.firestore_reads * args.price_read,
        "model downloads": args.model_downloads_per_1000 * args.model_mb / 1000 * args.price_egress_gb,
    }


def print_bill(args: argparse.Namespace) -> None:
    parts = bill(args)
    total = sum(parts.values())
    print("USD per 1,000 messages, by part (ONNX, sparse traffic)")
    for name, usd in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:20} {usd:9.5f}  {usd / total:6.1%}")
    print(f"  {'total':20} {total:9.5f}")
    biggest = max(parts, key=parts.get)
    print(f"biggest part: {biggest}; to cut it: {CUTS[biggest]}")
    month_s = 30 * 24 * 3600
    per_s = instance_cost_per_s(args, args.memory_gib)
    messages = args.max_instances * args.onnx_msg_s * month_s
    fixed = total - parts["compute"] - parts["cold starts"]
    ceiling = args.max_instances * per_s * month_s + messages / 1000 * fixed
    print(f"ceiling under the defaults: {args.max_instances} instances busy for 30 days = "
          f"${args.max_instances * per_s * month_s:,.0f} compute + {messages / 1e9:.2f} billion messages' "
          f"writes, reads and invocations ${messages / 1000 * fixed:,.0f} = ${ceiling:,.0f} a month")
    refused = (args.price_million_invocations / 1e6 + (args.firestore_writes + 1) * args.price_write
               + args.firestore_reads * args.price_read) * 1000
    print(f"a refused (RATE_LIMITED) message: no model run, but its create, claim, count, refusal and "
          f"refund writes: ${refused:.5f} per 1,000 ({refused / total:.0%} of a classified one); only "
          "App Check and sign-in rules stop the creates themselves")
    person = 30 * args.rate_per_day
    print(f"one person at RATE_PER_DAY={args.rate_per_day} for 30 days: {person:,} messages = "
          f"${person / 1000 * total:.2f} a month")


if __name__ == "__main__":
    main()
