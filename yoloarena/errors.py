"""Exceptions for mistakes a user can fix.

The CLI prints these as one line (no traceback); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class YoloArenaError(Exception):
    """A problem with the user's input (argument, file, weights) and how to fix it."""


class UnknownNameError(YoloArenaError, KeyError):
    """A name (model, config key, mode) that is not known; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(YoloArenaError):
    """A weights file that is missing, unreadable, unsafe or does not fit the model."""


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Up to n entries of choices that look like word (case-insensitive), best first.

    difflib's similarity first; then names that contain the word or that it contains (decay ->
    weight_decay); then, failing both, the single most similar name if it is at all close."""
    lowered: dict[str, str] = {}
    for c in choices:
        lowered.setdefault(c.lower(), c)
    w = word.lower().strip()
    if not w or not lowered:
        return []
    hits = difflib.get_close_matches(w, list(lowered), n=n, cutoff=0.6)
    if not hits and len(w) >= 2:
        hits = [c for c in lowered if w in c or (len(c) >= 3 and c in w)][:n]
    if not hits:
        hits = difflib.get_close_matches(w, list(lowered), n=1, cutoff=0.4)
    return [lowered[h] for h in hits]


def unknown(kind: str, word: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown name, with 'did you mean' and the valid choices."""
    choices = sorted(set(choices))
    matches = close_matches(word, choices)
    msg = f"unknown {kind} '{word}'"
    if matches:
        msg += f"; did you mean {' or '.join(repr(m) for m in matches)}?"
    elif len(choices) <= 40:
        msg += f"; choose from: {', '.join(choices)}"
    if hint:
        msg += f" ({hint})"
    return UnknownNameError(msg)
