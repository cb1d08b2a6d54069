"""Trade arrays as tables: the shape both traders' results and the trade book share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradewind.data.panel import row_times
from tradewind.engine.records import EXIT_NAMES, KIND_NAMES

__all__ = ["tracked_table"]


def tracked_table(done: np.ndarray, index: pd.DatetimeIndex, symbols: np.ndarray) -> pd.DataFrame:
    """The tracked continuations of ``done`` (trades whose tracking ended): what each would
    have made had it run to its stop (``pnl``), beside what it made (``pnl_taken``)."""
    return pd.DataFrame(
        {
            "trade": done["id"],
            "kind": "tracked",
            "of_kind": np.array(KIND_NAMES)[done["kind"]],
            "pair": symbols[done["pair"]],
            "side": done["side"],
            "entry_time": row_times(index, done["entry_t"]),
            "entry_price": done["entry_price"],
            "closed_time": row_times(index, done["exit_t"]),
            "closed_price": done["exit_price"],
            "closed_reason": np.array(EXIT_NAMES)[done["exit_reason"]],
            "exit_time": row_times(index, done["track_exit_t"]),
            "exit_price": done["track_exit_price"],
            "exit_reason": np.array(EXIT_NAMES)[done["track_reason"]],
            "cost": done["cost"],
            "pnl": done["track_pnl"],
            "pnl_taken": done["pnl"],
            "fees": done["fees"],
        }
    )
