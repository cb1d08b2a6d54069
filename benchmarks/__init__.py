"""Benchmarks: ``python -m benchmarks`` runs them and rewrites docs/performance.md."""
