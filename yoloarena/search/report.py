"""The search's plot (score against latency or GFLOPs, released models marked) and summary."""

from __future__ import annotations

from pathlib import Path

from .evolution import Member


def plot_search(
    members: list[Member], rows: list[dict], released: list[dict], cfg, path: Path, chosen: int
) -> Path:
    """Final population (predicted latency, or GFLOPs without a latency budget) against score;
    the re-measured best at their measured latency; the released models with their own necks
    (log x axis); an inset zooms on the population."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..eval.plots import save_figure

    latency = cfg.budget_latency is not None
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    _draw_search(ax, members, rows, cfg, chosen, legend=True)
    for r in released:
        x = r["latency_measured_ms"] if latency else r["gflops"]
        ax.scatter([x], [r["score"]], marker="^", s=60, color="tab:orange", zorder=4)
        label = r["model"].removeprefix("damoyolo-").capitalize()
        ax.annotate(label, (x, r["score"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if released:
        what = "released DAMO-YOLO (own neck, measured)" if latency else "released DAMO-YOLO"
        ax.scatter([], [], marker="^", color="tab:orange", label=what)
        ax.set_xscale("log")
        inset = ax.inset_axes((0.07, 0.56, 0.38, 0.36))
        _draw_search(inset, members, rows, cfg, chosen, legend=False)
        inset.tick_params(labelsize=7)
        inset.set_title("final population", fontsize=8)
    unit = f"latency, ms ({cfg.backend}, batch 1, {cfg.imgsz}px)" if latency else (
        f"GFLOPs at {cfg.imgsz}px")  # fmt: skip
    ax.set_xlabel(unit)
    ax.set_ylabel("MadNAS score")
    ax.set_title(f"MAE-NAS search: {cfg.type} backbones, {cfg.iterations} iterations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def _draw_search(ax, members: list[Member], rows: list[dict], cfg, chosen: int, legend: bool):
    """Population, re-measured best, result and budget on ax."""
    latency = cfg.budget_latency is not None
    xs = [m.latency if latency else m.gflops for m in members]
    label = f"final population ({len(members)})" + (", predicted" if latency else "")
    ax.scatter(xs, [m.score for m in members], s=9, alpha=0.5, color="tab:blue",
               label=label if legend else None)  # fmt: skip
    if latency:
        for r in rows:
            ax.plot([r["latency_predicted_ms"], r["latency_measured_ms"]], [r["score"]] * 2,
                    color="tab:blue", lw=0.8, alpha=0.6)  # fmt: skip
        ax.scatter([r["latency_measured_ms"] for r in rows], [r["score"] for r in rows], s=36,
                   facecolors="none", edgecolors="tab:blue",
                   label="best, measured" if legend else None)  # fmt: skip
    best = rows[chosen]
    bx = best["latency_measured_ms"] if latency else best["gflops"]
    label = f"result (score {best['score']:.1f})" if legend else None
    size = 220 if legend else 120
    ax.scatter([bx], [best["score"]], marker="*", s=size, color="tab:red", zorder=5, label=label)
    budget = cfg.budget_latency if latency else cfg.budget_gflops
    if budget is not None:
        ax.axvline(budget, color="gray", ls="--", lw=1, label="budget" if legend else None)


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def summary_markdown(summary: dict, cfg) -> str:
    """Best structures and released models side by side (markdown)."""
    cols = ["score", "layers", "params_m", "gflops", "latency_predicted_ms", "latency_measured_ms",
            "error_pct"]  # fmt: skip
    lines = ["| structure | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in summary["top"]:
        mark = " (result)" if r is summary["best"] or r == summary["best"] else ""
        lines.append(f"| #{r['rank']}{mark} {r['structure']} | "
                     + " | ".join(_fmt(r.get(c)) for c in cols) + " |")  # fmt: skip
    for r in summary["released"]:
        lines.append(f"| {r['model']} (released) | " + " | ".join(_fmt(r.get(c)) for c in cols)
                     + " |")  # fmt: skip
    err = summary["predictor_error"]
    if err:
        lines.append(
            f"\nlatency predictor error over the {err['n']} other whole networks measured "
            f"(calibration and re-measured best): median {err['median_abs_pct']:.1f}%, max "
            f"{err['max_abs_pct']:.1f}%; on the result {err['result_pct']:+.1f}%"
        )
    lines.append(f"neck, head and recipe: {summary['neck']}; {summary['iterations']} iterations "
                 f"in {summary['seconds']:.1f} s")  # fmt: skip
    return "\n".join(lines)
