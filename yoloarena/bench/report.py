"""The comparison report: report.md (links to PNG/JPEG files next to it) and report.html (one
self-contained file: styles inline, every image embedded as a data URI, nothing fetched)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ..writes import write_text
from .charts import latency_backend, pareto, plot_pr_curves, plot_tradeoff
from .environment import describe
from .seeds import seed_lines
from .significance import TITLE, bootstrap_section, verdict_lines
from .tables import fmt, measured_table, published_table

SECTIONS = ("Verdict", "Protocol", "Results", TITLE, "Accuracy vs latency", "Per-class AP",
            "Precision-recall", "Sample predictions", "Training", "Published figures")  # fmt: skip
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}td img{width:100%;min-width:160px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.6em}"""


def obtained(r: dict) -> str:
    """How a model of the report was obtained (results of older compares: trained or given)."""
    origin = r.get("origin") or {}
    if origin.get("text"):
        return origin["text"]
    return "trained from scratch" if r.get("trained") else "evaluated as given"


def recipe_lines(results: list[dict], hyp: str) -> list[str]:
    """One protocol line per model: how it was obtained and with which recipe."""
    lines = []
    for r in results:
        origin = r.get("origin") or {}
        recipe = origin.get("recipe", "")
        if hyp and origin.get("how") in ("scratch", "finetune"):
            recipe = f"hyp={hyp} for every model ({recipe})"
        lines.append(f"- {r['model']}: {obtained(r)}" + (f"; {recipe}" if recipe else ""))
    return lines


def verdict(results: list[dict]) -> list[str]:
    best = max(results, key=lambda r: r["metrics"]["AP"])
    backend = latency_backend(results)
    lines = [f"Most accurate: **{best['model']}** (AP50-95 {best['metrics']['AP']:.4f}, AP50 "
             f"{best['metrics']['AP50']:.4f})."]  # fmt: skip
    if backend:
        fast = min(results, key=lambda r: r["latency"][backend]["median_ms"])
        lines.append(f"Fastest ({backend}, model only): **{fast['model']}** "
                     f"({fast['latency'][backend]['median_ms']:.1f} ms per image).")  # fmt: skip
        pts = [(r["latency"][backend]["median_ms"], r["metrics"]["AP"]) for r in results]
        front = [results[i]["model"] for i in pareto(pts)]
        lines.append("Pareto-optimal (no other model is both faster and more accurate): "
                     + ", ".join(f"**{m}**" for m in front) + ".")  # fmt: skip
    return lines


def protocol_lines(settings, env: dict, trained: bool = True) -> list[str]:
    p = settings.protocol
    recipe = f"hyp `{settings.hyp}` for every model" if settings.hyp else "each model's recipe"
    return [
        f"- data: `{settings.data}`; image size {settings.imgsz}; "
        + (
            f"training: {settings.epochs} epochs, batch {settings.batch}, {recipe} (below)"
            if trained
            else "no training (every model evaluated as given)"
        ),
        f"- validation, the same for every model: COCO evaluator (faster-coco-eval), conf "
        f"{p['conf']}, NMS IoU {p['iou']}, max_det {p['max_det']}, multi-label, square "
        f"{settings.imgsz}x{settings.imgsz} input; each model keeps the resize rule it was trained "
        "with (letterbox for YOLOv5, stretch for DAMO-YOLO)",
        f"- latency: batch 1, fp32 (int8 or bf16 where the backend's name says so), square "
        f"{settings.imgsz}x{settings.imgsz} input for every "
        f"backend ({settings.backends}), each in its own worker process with the same threads, "
        "in alternated blocks; median (p90) of timed runs, model only and end to end "
        "(`predict`: decode, resize, network, NMS)",
        f"- measured on: {describe(env)}",
    ]


def results_table(results: list[dict]) -> str:
    head = "| model | obtained | AP50-95 | AP50 | AP75 | AP small | AP medium | AP large | P | R |"
    masks = any("mask_AP" in r["metrics"] for r in results)  # segmentation models
    if masks:
        head += " mask AP50-95 | mask AP50 |"
    lines = [head, "|---|---|" + "---:|" * (10 if masks else 8)]
    for r in results:
        m = r["metrics"]
        cells = [r["model"], obtained(r)]
        cells += [fmt(m.get(k), 4) for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")]
        cells += [fmt(r["precision"], 3), fmt(r["recall"], 3)]
        if masks:
            cells += [fmt(m.get("mask_AP"), 4), fmt(m.get("mask_AP50"), 4)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class_table(results: list[dict]) -> str:
    names = list(dict.fromkeys(c["name"] for r in results for c in r["per_class"]))
    head = "| class | instances | " + " | ".join(f"{r['model']} AP50-95" for r in results) + " |"
    lines = [head, "|---|" + "---:|" * (len(results) + 1)]
    for name in names:
        row = [name]
        aps = []
        for r in results:
            c = next((c for c in r["per_class"] if c["name"] == name), None)
            if len(row) == 1:
                row.append(str(c["instances"]) if c else "-")
            aps.append(c["AP"] if c else None)
        best = max((a for a in aps if a is not None), default=None)
        row += [(f"**{a:.4f}**" if a == best else f"{a:.4f}") if a is not None else "-"
                for a in aps]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_report(out: Path, results: list[dict], settings, env: dict, args: dict, choice=None,
                 bootstrap: dict | None = None):  # fmt: skip
    """report.md and report.html in out; returns their paths. choice: the budget's outcome
    (bench.budget.Choice), a verdict line and the chart's budget line; bootstrap:
    compare_bootstrap's summary (intervals and the verdict of the top two), None when off."""
    tradeoff = plot_tradeoff(results, out / "tradeoff.png", choice)
    pr = plot_pr_curves({r["model"]: r["pr_curve"] for r in results if r["pr_curve"]},
                        out / "pr_curves.png")  # fmt: skip
    md = _markdown(out, results, settings, env, tradeoff, pr, choice, bootstrap)
    write_text(out / "report.md", md)
    page = _html(md, out)
    write_text(out / "report.html", page)
    return out / "report.md", out / "report.html"


def _rel(path: str | Path, out: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(out.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def _markdown(out: Path, results, settings, env, tradeoff: Path, pr: Path, choice=None,
              boot=None) -> str:  # fmt: skip
    s = ["# yoloarena compare: " + ", ".join(r["model"] for r in results), ""]
    s += ["## Verdict", "", *verdict(results), *verdict_lines(boot),
          *([choice.message] if choice else []), ""]  # fmt: skip
    s += ["## Protocol", "", *protocol_lines(settings, env, any(r.get("trained") for r in results)),
          *recipe_lines(results, settings.hyp),
          ""]  # fmt: skip
    s += [
        "## Results",
        "",
        results_table(results),
        "",
        *seed_lines(results),
        "",
        "Size, speed, and the accuracy of each backend's own exported file (INT8 and bf16 "
        "are scored, not assumed):",
        "",
        measured_table(results),
        "",
    ]
    s += bootstrap_section(boot)
    s += ["## Accuracy vs latency", "", f"![AP vs latency]({_rel(tradeoff, out)})", ""]
    s += ["## Per-class AP", "", per_class_table(results), ""]
    s += ["## Precision-recall", "", f"![PR curves]({_rel(pr, out)})", ""]
    s += ["## Sample predictions", "", "Ground truth, then each model's detections at conf "
          "0.25 on the same validation images.", ""]  # fmt: skip
    heads = ["ground truth"] + [r["model"] for r in results]
    s += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for k, sample in enumerate(results[0]["samples"]):
        cells = [f"![gt]({_rel(sample['ground_truth'], out)})"]
        for r in results:
            smp = r["samples"][k] if k < len(r["samples"]) else None
            cells.append(f"![{r['model']}]({_rel(smp['image'], out)})" if smp else "-")
        s.append("| " + " | ".join(cells) + " |")
    s += ["", "## Training", ""]
    for r in results:
        if r.get("train_curves"):
            s += [f"{r['model']}: {obtained(r)} ({_rel(r['train_dir'], out)})", "",
                  f"![{r['model']} training]({_rel(r['train_curves'], out)})", ""]  # fmt: skip
        else:
            s += [f"{r['model']}: {obtained(r)} (`{r['weights']}`)", ""]
    pub = published_table(results)
    note = (
        "From the official READMEs (COCO, other hardware); not measured here and not "
        "comparable with the columns above."
    )
    s += ["## Published figures", "", note, "", pub or "none", ""]
    return "\n".join(s)


def _html(md: str, out: Path) -> str:
    """A small markdown-to-HTML rendering of the report (headings, tables, images, lists)."""
    body, table = [], []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            body.append(_table_html(table, out))
            table = []
        if line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:], out)}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:], out)}</h2>")
        elif line.startswith("- "):
            body.append(f"<p>&bull; {_inline(line[2:], out)}</p>")
        elif line.strip():
            body.append(f"<p>{_inline(line, out)}</p>")
    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>yoloarena compare</title>"
            f"<style>{_CSS}</style></head><body>\n")  # fmt: skip
    return head + "\n".join(body) + "\n</body></html>\n"


def _table_html(lines: list[str], out: Path) -> str:
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    rows = [r for r in rows if not all(set(c) <= set("-:") for c in r)]
    head, rest = rows[0], rows[1:]
    th = "".join(f"<th>{_inline(c, out)}</th>" for c in head)
    trs = "".join("<tr>" + "".join(f"<td>{_inline(c, out)}</td>" for c in r) + "</tr>"
                  for r in rest)  # fmt: skip
    return f"<table><tr>{th}</tr>{trs}</table>"


def _inline(text: str, out: Path) -> str:
    parts = re.split(r"(!\[[^\]]*\]\([^)]*\))", text)
    html_parts = []
    for part in parts:
        m = re.fullmatch(r"!\[([^\]]*)\]\(([^)]*)\)", part)
        if m:
            html_parts.append(_img(m.group(2), m.group(1), out))
            continue
        esc = html.escape(part)
        esc = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", esc)
        esc = re.sub(r"`(.+?)`", r"<code>\1</code>", esc)
        html_parts.append(esc)
    return "".join(html_parts)


def _img(src: str, alt: str, out: Path) -> str:
    path = Path(src) if Path(src).is_absolute() else out / src
    if not path.is_file():
        return f"[{html.escape(alt)}: image missing]"
    mime = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:{mime};base64,{data}'>"
