"""Where orders go: the ccxt venue (real exchanges; the local test exchange in tests). The
simulated venue is the engine's own fill model."""
