"""Models: labels, training protocol, registry (skops), walk-forward."""
