"""The deployment choice of `yoloarena compare`: the most accurate model whose latency on one
backend meets a budget (budget_ms=, budget_backend=). Accuracy is the one measured on that
backend's own file (an INT8 or bf16 export is scored, never assumed), else the model's."""

from __future__ import annotations

from dataclasses import dataclass


def metric_of(rows: list[dict]) -> str:
    """The accuracy the rows are ranked by: top-1 for classifiers, else box AP50-95."""
    return "top1" if any("top1" in (r.get("metrics") or {}) for r in rows) else "AP"


def accuracy_on(row: dict, backend: str, metric: str) -> float | None:
    """row's accuracy on backend: that backend's measured score, else the model's own."""
    scored = (row.get("backend_metrics") or {}).get(backend) or {}
    value = scored.get(metric, (row.get("metrics") or {}).get(metric))
    return None if value is None else float(value)


@dataclass
class Choice:
    """The outcome of a budget: the chosen row (None when no model meets it) and a sentence."""

    row: dict | None
    budget_ms: float
    backend: str
    message: str


def pick(rows: list[dict], budget_ms: float, backend: str) -> Choice:
    """The most accurate row whose median model-only latency on backend is <= budget_ms (ties:
    the faster); rows without a latency or an accuracy on backend are left out."""
    metric = metric_of(rows)
    label = "top-1" if metric == "top1" else "AP50-95"
    timed = [(r, r["latency"][backend]["median_ms"], accuracy_on(r, backend, metric))
             for r in rows if backend in (r.get("latency") or {})]  # fmt: skip
    timed = [t for t in timed if t[2] is not None]
    if not timed:
        return Choice(
            None,
            budget_ms,
            backend,
            f"Budget {budget_ms:g} ms on {backend}: no model was measured on {backend}.",
        )
    within = [t for t in timed if t[1] <= budget_ms]
    if not within:
        fast = min(timed, key=lambda t: t[1])
        return Choice(None, budget_ms, backend,
                      f"Budget {budget_ms:g} ms on {backend}: **no model meets it**; the fastest, "
                      f"{fast[0]['model']}, takes {fast[1]:.1f} ms per image.")  # fmt: skip
    best = max(within, key=lambda t: (t[2], -t[1]))
    return Choice(best[0], budget_ms, backend,
                  f"Best under {budget_ms:g} ms on {backend}: **{best[0]['model']}** ({label} "
                  f"{best[2]:.4f}, {best[1]:.1f} ms per image; {len(within)} of {len(timed)} "
                  "models meet the budget).")  # fmt: skip
