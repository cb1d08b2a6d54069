"""Where candles come from: ccxt (download, update), data.binance.vision dumps (import)."""
