"""Features for the models: TA-Lib indicators, spread and liquidity, market context."""
