"""The parts every report is made of: sections, the folder reader, number formats."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.backtest.charts import Chart
from tradewind.errors import ConfigError

__all__ = ["Report", "Section", "folder_kind", "fmt", "read_json"]


@dataclass
class Section:
    """A heading, some sentences, a chart and/or a table."""

    title: str
    text: str = ""
    chart: Chart | None = None
    table: pd.DataFrame | None = None


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        return [s.chart for s in self.sections if s.chart is not None]


# ------------------------------------------------------------------ reading folders


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def folder_kind(folder: Path) -> str:
    """What a result folder holds: backtest, montecarlo, ensembles, sizing, walkforward or
    optimize, or a demo — by the files each writes."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder (give a run or study folder)")
    if (folder / "equity.parquet").exists() and (folder / "summary.json").exists():
        return "backtest"
    for name in ("ensembles", "sizing", "walkforward", "optimize", "demo"):
        if (folder / f"{name}.json").exists():
            return name
    if (folder / "runs.parquet").exists() and (folder / "summary.json").exists():
        return "montecarlo"
    raise ConfigError(
        f"{folder}: not a run or study folder (no summary.json with equity.parquet or "
        "runs.parquet, no ensembles/sizing/walkforward/optimize/demo.json)"
    )


def fmt(value: Any, spec: str = ",.2f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float | int | np.floating | np.integer):
        return format(value, spec)
    return str(value)
