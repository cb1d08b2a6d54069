"""Backtests: single runs, walk-forward, Monte Carlo and ensembles, metrics, reports."""
