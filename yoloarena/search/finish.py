"""The end of a search: re-measure the best structures as whole networks, pick the result, place
the released models next to it, and write structure.yaml, best.csv, results.json and the plot."""

from __future__ import annotations

import csv
import json
import logging
import statistics
from datetime import datetime, timezone
from pathlib import Path

from ..bench.environment import cpu_name
from ..config import to_dict
from ..models.damoyolo.madnas import score
from ..models.damoyolo.parts import detector_costs
from ..models.damoyolo.structure import STRUCTURES
from .evolution import Member, SearchState

LOGGER = logging.getLogger("yoloarena")
RELEASED = ("T", "S", "M", "L", "Ns", "Nm", "Nl")


def _row(m: Member, rank: int | str) -> dict:
    return {"rank": rank, "score": round(m.score, 4), "layers": m.structure.layers,
            "params_m": round(m.params, 4), "gflops": round(m.gflops, 4),
            "latency_predicted_ms": None if m.latency is None else round(m.latency, 3),
            "latency_measured_ms": None, "error_pct": None,
            "structure": m.structure.describe()}  # fmt: skip


def remeasure(cfg, members: list[Member], predictor, neck: str) -> list[dict]:
    """Rows of the best members, measured as whole networks when there is a latency budget."""
    rows = [_row(m, i + 1) for i, m in enumerate(members[: cfg.top])]
    if predictor is None:
        return rows
    LOGGER.info("re-measuring the %d best structures as whole networks", len(rows))
    for m, row in zip(members, rows, strict=False):
        measured = predictor.measure(m.structure, neck)
        row["latency_measured_ms"] = round(measured, 3)
        row["error_pct"] = round(100 * (m.latency - measured) / measured, 2)
        LOGGER.info("  #%d score %.1f: predicted %.2f ms, measured %.2f ms (%+.1f%%)",
                    row["rank"], m.score, m.latency, measured, row["error_pct"])  # fmt: skip
    return rows


def predictor_error(rows: list[dict], chosen: int, predictor) -> dict:
    """The predictor's error, |predicted - measured| / measured in %, over every whole network
    measured for this search except the result (the calibration networks and the other
    re-measured best), so that it is stated independently of the result's own measurement."""
    if predictor is None:
        return {}
    pairs = list(predictor.checked) + [
        (r["latency_predicted_ms"], r["latency_measured_ms"])
        for i, r in enumerate(rows)
        if i != chosen
    ]
    errors = [abs(100 * (p - m) / m) for p, m in pairs]
    return {"median_abs_pct": statistics.median(errors), "max_abs_pct": max(errors),
            "n": len(errors), "result_pct": rows[chosen]["error_pct"]}  # fmt: skip


def pick(cfg, members: list[Member], rows: list[dict]) -> int:
    """Index of the result: the best-scoring re-measured structure within the latency budget
    (the best overall without one)."""
    if cfg.budget_latency is None:
        return 0
    for i, row in enumerate(rows):
        if row["latency_measured_ms"] <= cfg.budget_latency:
            return i
    LOGGER.warning(
        "none of the %d re-measured structures is within budget_latency=%s ms when measured; "
        "keeping the best predicted one",
        len(rows),
        cfg.budget_latency,
    )
    return 0


def released_rows(cfg, predictor) -> list[dict]:
    """The released backbones with their own neck and head, at the search's size and backend."""
    rows = []
    for name in cfg.released if cfg.released is not None else RELEASED:
        key = {k.lower(): k for k in STRUCTURES}.get(name.lower().removeprefix("damoyolo-"))
        if key is None:
            LOGGER.warning("released=%s is not one of %s; skipped", name, ", ".join(RELEASED))
            continue
        st, neck = STRUCTURES[key], f"damoyolo-{key.lower()}"
        params, flops = detector_costs(st, neck, cfg.num_classes, cfg.imgsz)
        row = {"model": neck, "type": st.type, "score": round(score(st).total, 4),
               "layers": st.layers, "params_m": round(params / 1e6, 4),
               "gflops": round(flops / 1e9, 4), "latency_measured_ms": None}  # fmt: skip
        if predictor is not None:
            row["latency_measured_ms"] = round(predictor.measure(st, neck), 3)
        rows.append(row)
    return rows


def _header(cfg, best: Member, row: dict, neck: str, out: Path) -> str:
    lines = [
        f"DAMO-YOLO backbone found by `yoloarena search` ({out.name}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d})",
        f"MadNAS score {best.score:.4f}; {best.structure.layers} conv layers; whole detector "
        f"{best.params:.3f} M params, {best.gflops:.3f} GFLOPs at {cfg.imgsz} "
        f"({cfg.num_classes} classes)",
    ]
    if row.get("latency_measured_ms") is not None:
        lines.append(f"latency on {cfg.backend} ({'fp16' if cfg.half else 'fp32'}, batch 1, "
                     f"{cfg.device}, {cpu_name()}): predicted {best.latency:.2f} ms, measured "
                     f"{row['latency_measured_ms']:.2f} ms")  # fmt: skip
    keys = ("budget_layers", "budget_params", "budget_gflops", "budget_latency")
    budgets = {k: getattr(cfg, k) for k in keys if getattr(cfg, k) is not None}
    lines.append(f"budgets: {budgets or 'none'}; seed {cfg.seed}")
    lines.append(f"neck, head and training recipe: {neck}")
    lines.append(f"train it: yoloarena train model={out / 'structure.yaml'} data=...")
    return "\n".join(lines)


def finish(cfg, state: SearchState, evaluate, predictor, neck: str, out: Path) -> dict:
    members = state.population.members
    LOGGER.info("search done: %d iterations in %.1f s, %d structures inserted, %d duplicates",
                state.iteration, state.seconds, state.counts["inserted"],
                state.counts["duplicates"])  # fmt: skip
    rows = remeasure(cfg, members, predictor, neck)
    i = pick(cfg, members, rows)
    error = predictor_error(rows, i, predictor)
    best = members[i]
    released = released_rows(cfg, predictor)
    text = best.structure.to_yaml({"neck": neck}, _header(cfg, best, rows[i], neck, out))
    (out / "structure.yaml").write_text(text)
    _write_csv(out / "best.csv", rows)
    summary = {"best": rows[i], "top": rows, "released": released, "predictor_error": error,
               "neck": neck, "iterations": state.iteration, "seconds": state.seconds,
               "counts": state.counts, "population": len(members),
               "table": str(predictor.table.path) if predictor else None,
               "args": to_dict(cfg)}  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    if cfg.plots:
        from .report import plot_search

        plot_search(members, rows, released, cfg, out / "search.png", chosen=i)
    from .report import summary_markdown

    LOGGER.info("%s", summary_markdown(summary, cfg))
    LOGGER.info("results saved to %s", out)
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
