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
    scored = list(dict.fromkeys(b for r in rows for b in r.get("backend_metrics") or {}))
    masks = with_map and any(_has_masks(r) for r in rows)  # segmentation models: mask AP too
    if with_map and scored:
        head += [f"{b} AP50-95" for b in scored]
        head += [f"{b} mask AP50-95" for b in scored] if masks else []
    elif with_map:
        head += ["AP50-95", "AP50"] + (["mask AP50-95", "mask AP50"] if masks else [])
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
            keys = ("AP", "mask_AP") if masks else ("AP",)
            cells += [fmt((per.get(b) or {}).get(k), 4) for k in keys for b in scored]
        elif with_map:
            m = r.get("metrics") or {}
            keys = ("AP", "AP50", "mask_AP", "mask_AP50") if masks else ("AP", "AP50")
            cells += [fmt(m.get(k), 4) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def published_table(rows: list[dict]) -> str:
    head = (
        "| model | published at size | published mAP50-95 (COCO val2017) | published latency "
        "ms | published params (M) | published GFLOPs |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r.get("published") or {}
        if not p:
            continue
        latency = p.get("cpu_b1_ms", p.get("latency_ms"))
        gflops = p.get("gflops_640", p.get("gflops"))
        lines.append(f"| {r['model_name']} | {fmt(p.get('imgsz'))} | {fmt(p.get('map50_95'))} | "
                     f"{fmt(latency, 2)} | "
                     f"{fmt(p.get('params_m'))} | {fmt(gflops)} |")  # fmt: skip
    where: dict[str, list[str]] = {}
    for r in rows:
        p = r.get("published") or {}
        if p.get("latency_setup"):
            where.setdefault(f"{p['latency_setup']} ({p.get('source', '')})", []).append(r["model"])
    notes = [f"- published latency of {', '.join(m)}: {w}" for w, m in where.items()]
    return "\n".join([*lines, "", *notes]) if len(lines) > 2 else ""


def results_markdown(rows: list[dict], env_line: str, chart: str | None) -> str:
    parts = [
        "# yoloarena benchmark",
        "",
        f"Measured here: {env_line}.",
        "",
        "Latency: median (p90) ms per image at batch 1, square input of the size shown, fp32; "
        "model only (the network on a ready tensor) and end to end (`predict` on an image: "
        "decode, resize, network, NMS, mapping back). Params and GFLOPs of the deployed model "
        "(Conv+BN fused, RepConv folded), FLOPs = 2 x MACs. Backends run in the precision "
        "their name says (fp32 unless -bf16 or -int8); with data=, the AP of each backend is "
        "measured by running its exported file through val.",
        "",
        measured_table(rows),
    ]
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
