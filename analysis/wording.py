"""The words and numbers of summaries (docs/summary.md): what a direction claim may say, what the model's
output is called, and how a number is written. One place, so that every summary (the ordinary one, a
comparison's, a what-if's) says the same thing the same way.

Direction claims describe the model, in associational words ("in this model, higher X goes with a higher
predicted Y"), never causal ones ("raises", "drives"), and only for a feature whose effect is increasing or
decreasing (analysis.effects) and whose share of the total mean |SHAP| is at least EFFECT_MIN_SHARE."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from analysis.effects import Effect

EFFECT_MIN_SHARE = 0.10  # a feature's share of the impact below which the summary states no direction
PLAIN_LOW, PLAIN_HIGH = 1e-3, 1e9  # magnitudes written positionally; outside, scientific notation
SIGNIFICANT = 3  # at least this many significant digits


def outcome(target: str, task: str, positive_class: str | None) -> str:
    """What the model predicts, in the summary's words: the predicted value, the predicted probability of the
    positive class (binary), or the predicted class's score (multiclass: SHAP values of the explained class)."""
    if task == "binary":
        return f"predicted probability of {target} = {positive_class}"
    if task == "multiclass":
        return f"predicted score of each row's predicted class of {target}"
    return f"predicted {target}"


def effect_phrase(name: str, effect: Effect, share: float, predicted: str) -> str | None:
    """The summary's words on one feature's effect, or None when there is nothing it may claim."""
    if share < EFFECT_MIN_SHARE:
        return None
    if effect.directional:
        way = "higher" if effect.shape == "increasing" else "lower"
        return f"in this model, higher {name} goes with a {way} {predicted}"
    if effect.shape == "non_monotonic":
        where = {"ends": "at both low and high values", "low": "at low values", "middle": "at middle values",
                 "high": "at high values"}[effect.high_at or "middle"]
        return f"in this model, {name} does not act in one direction (its contribution is highest {where})"
    return None


def number(value: Any) -> str:
    """A number as summaries write it: magnitudes from 0.001 to 10^9 positionally, with thousands separators
    and at least 3 significant digits (more for whole numbers: 77,330 not 7.73e+04); others in scientific
    notation; integers as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < PLAIN_HIGH):
        return f"{int(value):,}"
    magnitude = abs(float(value))
    if not math.isfinite(magnitude) or magnitude < PLAIN_LOW or magnitude >= PLAIN_HIGH:
        return f"{value:.{SIGNIFICANT}g}" if math.isfinite(magnitude) else str(value)
    decimals = max(0, SIGNIFICANT - 1 - math.floor(math.log10(magnitude)))
    return f"{value:,.{decimals}f}"


def signed(value: float) -> str:
    """`number` with its sign always written (a change, a difference): +1,234 or -0.0512."""
    return f"+{number(value)}" if value > 0 else number(value)


def row_names(ids: dict[str, list[Any]], count: int) -> list[str]:
    """How summaries, captions, tooltips and plot titles name each of `count` rows (in the order of
    `results`): its id columns' values joined with " / "; a name that several rows share followed by the
    row's position in `results` (0-based, as the plot's `row` parameter takes it): "C0259 (row 210)"; a row
    without any id value, or a result without id columns, by its position alone: "row 210"."""
    joined = [" / ".join(str(values[i]) for values in ids.values() if values[i] is not None) for i in range(count)]
    seen = Counter(joined)
    return [name if name and seen[name] == 1 else f"{name} (row {i})" if name else f"row {i}"
            for i, name in enumerate(joined)]
