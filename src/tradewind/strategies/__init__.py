"""Strategies: nominators that rank pairs for the daily cycle, and (later) the ML predictor."""
