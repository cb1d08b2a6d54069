"""Traders: strategies, models and portfolio wired onto the engine's lifecycle."""
