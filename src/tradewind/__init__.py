"""Tradewind: machine-learning crypto trading with one engine for backtest, paper and live.

The public Python API mirrors the CLI verbs; see ``docs/`` for the guides.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
