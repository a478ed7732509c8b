"""What one plot of a finished analysis is: its kind and parameters, as the web checked them and the worker
draws them (worker.plot_job). Its digest names the stored image and the render job, so the same plot asked
twice is rendered once."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import orjson

KINDS = ("bar", "beeswarm", "waterfall", "dependence", "heatmap", "interaction")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
DEFAULT_MAX_DISPLAY = 10
MAX_DISPLAY_LIMIT = 100  # features one plot shows at most (the rest are summed into one bar by shap)


@dataclass(frozen=True)
class PlotSpec:
    """`row` is a position in the result's `results` (0-based); `output_class` the class whose SHAP values
    are plotted (binary and multiclass results), None for a regression or a binary's positive class;
    `with_feature` the interaction plot's second feature (`feature` is its first)."""

    kind: str
    format: str = "png"
    max_display: int = DEFAULT_MAX_DISPLAY
    row: int | None = None
    feature: str | None = None
    color: str | None = None
    output_class: str | None = None
    with_feature: str | None = None

    def digest(self) -> str:
        """A short stable name of this plot: the field of its stored image, the tail of its render job's id."""
        return hashlib.sha256(orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]

    def render_job_id(self, analysis_id: str) -> str:
        return f"plot-{analysis_id}-{self.digest()}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlotSpec:
        return cls(**data)
