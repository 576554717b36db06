"""Turn bench/results/*.json into bench/results/results.md and PNG plots (matplotlib).

    python bench/report.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import harness as h
from stages import STAGES

TARGETS = {
    "REST batch enqueue (1,000/request)": 20000,
    "REST batch enqueue (1,000/request), Redis mode": 20000,
    "gRPC batch enqueue (1,000/call)": 30000,
    "gRPC batch enqueue (1,000/call), Redis mode": 30000,
    "drain, Postgres-only, 2 workers": 5000,
    "drain, Redis mode, 2 workers": 10000,
}


RATIO_TARGET = 0.70  # single-job REST enqueue against the bare handler, same rounds
LATENCY_TARGETS = {"1000/s": {"p50_ms": 5.0, "p99_ms": 20.0}}  # enqueue -> start, ms


def _latency_mark(rate: str, key: str, summary: dict[str, float]) -> str:
    target = LATENCY_TARGETS.get(rate, {}).get(key)
    if target is None:
        return ""
    return f" {'✅' if summary[key] <= target else '❌'} ≤ {target:.0f}"


def load(name: str) -> dict[str, Any] | None:
    path = h.RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def spread(runs: list[dict[str, float]], key: str) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return min(values), max(values)


def rows() -> list[tuple[str, float, float, float, str]]:
    """(label, median jobs/s, min, max, note) for every throughput figure measured."""
    out: list[tuple[str, float, float, float, str]] = []
    rest = load("rest_enqueue")
    if rest:
        labels = {
            "bare_c64": "bare Litestar handler, no I/O (64 clients)",
            "single_c16": "REST 1 job/request, 16 clients",
            "single_c64": "REST 1 job/request, 64 clients",
            "single_c64_2proc": "REST 1 job/request, 64 clients, 2 server processes",
            "single_c64_nogc": "REST 1 job/request, 64 clients, group commit off",
            "batch100": "REST batch enqueue (100/request)",
            "batch1000": "REST batch enqueue (1,000/request)",
            "redis_single_c64": "REST 1 job/request, 64 clients, Redis mode",
            "redis_single_c64_2proc": "REST 1 job/request, 64 clients, 2 server processes, "
                                      "Redis mode",
            "redis_batch1000": "REST batch enqueue (1,000/request), Redis mode",
        }
        for key, label in labels.items():
            if key in rest["summary"]:
                lo, hi = spread(rest["runs"][key], "jobs_per_s")
                out.append((label, rest["summary"][key]["jobs_per_s"], lo, hi, ""))
    grpc = load("grpc_enqueue")
    if grpc:
        for key, label in (("grpc_batch100", "gRPC batch enqueue (100/call)"),
                           ("grpc_batch1000", "gRPC batch enqueue (1,000/call)"),
                           ("redis_grpc_batch1000", "gRPC batch enqueue (1,000/call), Redis mode")):
            if key in grpc["summary"]:
                lo, hi = spread(grpc["runs"][key], "jobs_per_s")
                out.append((label, grpc["summary"][key]["jobs_per_s"], lo, hi, ""))
    for mode, title in (("postgres", "Postgres-only"), ("redis", "Redis mode")):
        drain = load(f"drain_{mode}")
        if drain and "2w_1s" in drain["summary"]:
            lo, hi = spread(drain["runs"]["2w_1s"], "jobs_per_s")
            out.append((f"drain, {title}, 2 workers", drain["summary"]["2w_1s"]["jobs_per_s"],
                        lo, hi, f"{drain['max_jobs']} concurrent per worker"))
    return out


def markdown() -> str:
    lines = ["# Quorra benchmark results", ""]
    any_result = next((load(n) for n in ("rest_enqueue", "drain_postgres", "pg_bound")
                       if load(n)), None)
    if any_result:
        lines += [f"Machine: {any_result['machine']}. Medians of the rounds; "
                  "min-max in brackets.", ""]
    lines += ["## Throughput", "", "| workload | jobs/s (median) | min-max | target | note |",
              "|---|---:|---|---:|---|"]
    for label, value, lo, hi, note in rows():
        target = TARGETS.get(label)
        mark = "" if target is None else f"{target:,} {'✅' if value >= target else '❌'}"
        lines.append(f"| {label} | {value:,.0f} | {lo:,.0f}-{hi:,.0f} | {mark} | {note} |")
    rest = load("rest_enqueue")
    if rest:
        lines += ["", "## Same-run ratios (median of per-round ratios)", "",
                  "| ratio | value | target |", "|---|---:|---:|"]
        for label, value in rest["ratios"].items():
            ratio = RATIO_TARGET if label.endswith("/ bare_c64") else None
            mark = "" if ratio is None else f"{ratio:.2f} {'✅' if value >= ratio else '❌'}"
            lines.append(f"| {label} | {value:.2f} | {mark} |")
        lines += ["", "## Cost per job (REST)", "",
                  "| workload | server CPU µs/job | xact/job | tuples/job | server RSS MiB |",
                  "|---|---:|---:|---:|---|"]
        for key, s in rest["summary"].items():
            if "xact_per_job" in s:
                lines.append(f"| {key} | {s['server_cpu_us_per_job']:.0f} | "
                             f"{s['xact_per_job']:.3f} | {s['tuples_per_job']:.2f} | "
                             f"{s['rss_before_mib']:.0f} → {s['rss_after_mib']:.0f} |")
    for mode in ("postgres", "redis"):
        drain = load(f"drain_{mode}")
        if drain:
            lines += ["", f"## Drain, {mode} mode ({drain['jobs']:,} jobs, "
                      f"{drain['max_jobs']} concurrent per worker)", "",
                      "| workers × servers | jobs/s | server CPU µs/job | xact/job | tuples/job |",
                      "|---|---:|---:|---:|---:|"]
            for key, s in drain["summary"].items():
                lines.append(f"| {key} | {s['jobs_per_s']:,.0f} | "
                             f"{s['server_cpu_us_per_job']:.0f} | {s['xact_per_job']:.3f} | "
                             f"{s['tuples_per_job']:.2f} |")
        steady = load(f"steady_{mode}")
        if steady:
            lines += ["", f"## Steady state, {mode} mode ({steady['seconds']:.0f} s runs, "
                      "2 workers)", "",
                      "Latency from the producer sending the request to the handler starting; "
                      "in brackets from the job's `created_at` (inside the enqueue transaction).",
                      "",
                      "| offered | sustained jobs/s | p50 ms | p99 ms | p99.9 ms |",
                      "|---|---:|---:|---:|---:|"]
            for key, s in steady["summary"].items():
                p50 = f"{s['p50_ms']:.1f} ({s.get('stored_p50_ms', float('nan')):.1f})"
                p99 = f"{s['p99_ms']:.1f} ({s.get('stored_p99_ms', float('nan')):.1f})"
                lines.append(f"| {key} | {s['sustained_per_s']:,.0f} | "
                             f"{p50}{_latency_mark(key, 'p50_ms', s)} | "
                             f"{p99}{_latency_mark(key, 'p99_ms', s)} | {s['p999_ms']:.1f} |")
    lines += stages_table()
    bound = load("pg_bound")
    if bound:
        lines += ["", "## Bounds of this machine", "", "| measure | median |", "|---|---:|"]
        for key, value in bound["summary"].items():
            lines.append(f"| PostgreSQL {key.replace('_', ' ')} (pgbench) | {value:,.0f} |")
    scan = load("lease_scan")
    if scan:
        lines += ["", f"## Postgres-only lease of 10 ready jobs, fresh vs after "
                  f"{scan['leased']:,} leases without vacuum", "",
                  "| statement | fresh ms | after ms |", "|---|---:|---:|"]
        for name, r in scan["results"].items():
            lines.append(f"| {name} | {r['fresh_ms']:.2f} | {r['after_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def _step_order(step: str) -> int:
    first = step.split(" -> ")[0]
    return STAGES.index(first) if first in STAGES else len(STAGES)  # total last


def stages_table() -> list[str]:
    """Where enqueue -> start latency goes at one steady rate (bench/stages.py), per mode."""
    stages = {m: load(f"stages_{m}") for m in ("postgres", "redis")}
    present = {m: s for m, s in stages.items() if s}
    if not present:
        return []
    rate = next(iter(present.values()))["rate"]
    modes = list(present)
    lines = ["", f"## Where the latency goes ({rate:,.0f} jobs/s, ms per step: p50 (p99))", "",
             "| step | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes)]
    steps = sorted({k for s in present.values() for k in s["p50_ms"]}, key=_step_order)
    for step in steps:
        cells = [f"{present[m]['p50_ms'][step]:.2f} ({present[m]['p99_ms'][step]:.1f})"
                 if step in present[m]["p50_ms"] else "—" for m in modes]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return lines


def plots() -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[Path] = []
    data = rows()
    if data:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(data) + 1.2))
        labels = [r[0] for r in data][::-1]
        values = [r[1] for r in data][::-1]
        errors = [[r[1] - r[2] for r in data][::-1], [r[3] - r[1] for r in data][::-1]]
        ax.barh(labels, values, xerr=errors, color="#3b7dd8", capsize=3)
        for i, label in enumerate(labels):
            if label in TARGETS:
                ax.plot([TARGETS[label]] * 2, [i - 0.4, i + 0.4], color="#d8453b", lw=2)
        ax.set_xlabel("jobs/s (median, min-max whiskers; red tick = target)")
        ax.set_title("Quorra throughput on a shared 2-core machine")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        made.append(h.RESULTS / "throughput.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    scaling = {m: load(f"drain_{m}") for m in ("postgres", "redis")}
    if any(scaling.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode, drain in scaling.items():
            if not drain:
                continue
            points = sorted((int(k.split("w_")[0]), v["jobs_per_s"])
                            for k, v in drain["summary"].items() if k.endswith("w_1s"))
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=mode)
        ax.set_xlabel("worker processes")
        ax.set_ylabel("drain jobs/s (median)")
        ax.set_title("Drain scaling")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        made.append(h.RESULTS / "drain_scaling.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    steady = {m: load(f"steady_{m}") for m in ("postgres", "redis")}
    if any(steady.values()):
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.35
        for offset, (mode, result) in enumerate(steady.items()):
            if not result:
                continue
            names = [k for k in result["summary"] if k != "max"]
            xs = [i + offset * width for i in range(len(names))]
            for q, style in (("p50_ms", "o"), ("p99_ms", "s"), ("p999_ms", "^")):
                ax.scatter(xs, [result["summary"][n][q] for n in names], marker=style,
                           label=f"{mode} {q[:-3]}")
            ax.set_xticks(range(len(names)), names)
        ax.set_yscale("log")
        ax.set_ylabel("enqueue → start latency, ms")
        ax.set_title("Latency at steady offered load")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        made.append(h.RESULTS / "latency.png")
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


def main() -> None:
    h.RESULTS.mkdir(parents=True, exist_ok=True)
    text = markdown()
    (h.RESULTS / "results.md").write_text(text)
    print(text)
    for path in plots():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
