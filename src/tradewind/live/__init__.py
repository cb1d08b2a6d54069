"""The live and paper trading node (``tradewind run``): clock, candle feed, the node."""
