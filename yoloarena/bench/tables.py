"""Markdown tables of benchmark rows: measured columns, and the published ones kept apart."""

from __future__ import annotations


def fmt(value, digits: int = 1) -> str:
    """A table cell; None, "" and COCO's -1 (no ground truth of that kind) become "-"."""
    if value is None or value == "" or (isinstance(value, float) and value == -1.0):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def measured_table(rows: list[dict], with_map: bool | None = None) -> str:
    backends = list(dict.fromkeys(b for r in rows for b in r["latency"]))
    head = ["model", "family", "weights", "size", "params (M)", "GFLOPs"]
    head += [f"{b} ms (p90)" for b in backends] + [f"{b} e2e ms" for b in backends]
    if with_map is None:
        with_map = any(r.get("metrics") for r in rows)
    cls = any("top1" in (r.get("metrics") or {}) for r in rows)  # classifiers: top-1 / top-5
    acc = ("top1", "top-1") if cls else ("AP", "AP50-95")
    scored = list(dict.fromkeys(b for r in rows for b in r.get("backend_metrics") or {}))
    masks = with_map and any(_has_masks(r) for r in rows)  # segmentation models: mask AP too
    if with_map and scored:
        head += [f"{b} {acc[1]}" for b in scored]
        head += [f"{b} mask AP50-95" for b in scored] if masks else []
    elif with_map:
        head += ["top-1", "top-5"] if cls else ["AP50-95", "AP50"]
        head += ["mask AP50-95", "mask AP50"] if masks else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in rows:
        cells = [r["model"], r["family"], _short(r["weights"]), str(r["imgsz"]),
                 f"{r['params'] / 1e6:.3f}", f"{r['gflops']:.2f}"]  # fmt: skip
        for b in backends:
            lat = r["latency"].get(b)
            cells.append(f"{lat['median_ms']:.1f} ({lat['p90_ms']:.1f})" if lat else "-")
        for b in backends:
            lat = r["latency"].get(b)
            cells.append(f"{lat['e2e_median_ms']:.1f}" if lat else "-")
        if with_map and scored:
            per = r.get("backend_metrics") or {}
            keys = (acc[0], "mask_AP") if masks else (acc[0],)
            cells += [fmt((per.get(b) or {}).get(k), 4) for k in keys for b in scored]
        elif with_map:
            m = r.get("metrics") or {}
            keys = ("top1", "top5") if cls else ("AP", "AP50")
            keys += ("mask_AP", "mask_AP50") if masks else ()
            cells += [fmt(m.get(k), 4) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def published_table(rows: list[dict]) -> str:
    head = (
        "| model | published at size | published mAP50-95 (COCO val2017) / top-1 (ImageNet) "
        "| published latency ms | published params (M) | published GFLOPs |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r.get("published") or {}
        if not p:
            continue
        latency = p.get("cpu_b1_ms", p.get("latency_ms"))
        gflops = p.get("gflops_640", p.get("gflops"))
        acc = p.get("map50_95", p.get("top1"))
        lines.append(f"| {r['model_name']} | {fmt(p.get('imgsz'))} | {fmt(acc)} | "
                     f"{fmt(latency, 2)} | "
                     f"{fmt(p.get('params_m'))} | {fmt(gflops)} |")  # fmt: skip
    where: dict[str, list[str]] = {}
    for r in rows:
        p = r.get("published") or {}
        if p.get("latency_setup"):
            where.setdefault(f"{p['latency_setup']} ({p.get('source', '')})", []).append(r["model"])
    notes = [f"- published latency of {', '.join(m)}: {w}" for w, m in where.items()]
    return "\n".join([*lines, "", *notes]) if len(lines) > 2 else ""


def _pct(lat: dict) -> str:
    if lat.get("pct_conv_peak") is None:
        return "-"
    return f"{lat['pct_conv_peak']:.0f}% ({lat['pct_matmul_peak']:.0f}%)"


def breakdown_table(rows: list[dict]) -> str:
    """One line per model and backend: the input policy, the timing breakdown, the share of
    the measured peak and whether other processes competed meanwhile."""
    head = ["model", "backend", "precision", "input", "model only ms (p90)", "pre ms", "post ms",
            "end to end ms (p90)", "e2e / (model+pre+post)", "GFLOP/s",
            "% of conv peak (% of matmul)", "contention"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * 7 + "---|"]
    for r in rows:
        for b, lat in r["latency"].items():
            cells = [r["model"], b, lat.get("precision", "-"), lat.get("input", "-"),
                     f"{lat['median_ms']:.1f} ({lat['p90_ms']:.1f})",
                     fmt(lat.get("preprocess_ms")), fmt(lat.get("postprocess_ms")),
                     f"{lat['e2e_median_ms']:.1f} ({lat['e2e_p90_ms']:.1f})",
                     fmt(lat.get("e2e_ratio"), 2), fmt(lat.get("gflops_s")), _pct(lat),
                     lat.get("contention_text", "-")]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PROTOCOL = (
    "Protocol: every backend runs in its own worker process (spawned, one runtime loaded, the "
    "same number of intra-op threads for all), so no other runtime's thread pool competes with "
    "it; the same input policy for every backend (stated per row); a warm-up, then blocks of 3 "
    "timed calls after an untimed one, the workers taking turns in a rotating order, model-only "
    "and end-to-end blocks back to back; medians (p90) over the timed calls. Pre ms: `predict`'s "
    "own resize-and-normalise time in the end-to-end calls; post ms: the rest of each call after "
    "the network (NMS, mapping back, results); e2e / (model+pre+post), the median over the calls "
    "of each call against the model-only median plus its own pre and post, near 1 means the "
    "network ran inside `predict` as fast as alone. % of peak: "
    "the model-only GFLOP/s of fp32 rows against the measured 3x3 convolution (the matmul rate "
    "in brackets). Contention: the cores other processes used while the row was timed "
    "(/proc/stat busy time minus this benchmark's own processes); 'yes' from 0.2 cores, and "
    "such figures are slower than on a quiet machine."
)


def results_markdown(
    rows: list[dict],
    env_line: str,
    chart: str | None,
    peak: dict | None = None,
    load: dict | None = None,
) -> str:
    from .load import contention_text
    from .peak import peak_line

    parts = [
        "# yoloarena benchmark",
        "",
        f"Measured here: {env_line}.",
        "",
        "Latency: median (p90) ms per image at batch 1, input as each row states, fp32; "
        "model only (the network on a ready tensor) and end to end (`predict` on an image: "
        "decode, resize, network, NMS, mapping back). Params and GFLOPs of the deployed model "
        "(Conv+BN fused, RepConv folded), FLOPs = 2 x MACs. Backends run in the precision "
        "their name says (fp32 unless -bf16 or -int8); with data=, the AP of each backend is "
        "measured by running its exported file through val.",
        "",
        PROTOCOL,
        "",
    ]
    if peak:
        parts += [f"The machine's {peak_line(peak)}.", ""]
    if load and "startup_other_cores" in load:
        parts += ["Load at start-up: contention "
                  f"{contention_text(load['startup_other_cores'])}.", ""]  # fmt: skip
    parts += [measured_table(rows), "", "## Timing breakdown per backend", "",
              breakdown_table(rows)]  # fmt: skip
    if chart:
        parts += ["", f"![AP vs latency]({chart})"]
    pub = published_table(rows)
    if pub:
        parts += ["", "## Published figures (not measured here, other hardware)", "", pub]
    return "\n".join(parts) + "\n"


def _has_masks(row: dict) -> bool:
    parts = [row.get("metrics") or {}, *(row.get("backend_metrics") or {}).values()]
    return any("mask_AP" in m for m in parts)


def _short(weights: str) -> str:
    return weights if len(weights) < 40 else "..." + weights[-37:]
