"""The default feature set: which blocks, in which order (the order models store)."""

from __future__ import annotations

from tradewind.features.base import FeatureSpec, PairBlock, PanelBlock

__all__ = ["all_specs", "default_blocks"]


def default_blocks(timeframe: str = "1h") -> tuple[list[PairBlock], list[PanelBlock]]:
    """Pair blocks (indicators, spread and liquidity) and panel blocks (market context, whose
    day and week windows follow the panel's ``timeframe``)."""
    from tradewind.features.context import MarketContextBlock
    from tradewind.features.indicators import IndicatorBlock
    from tradewind.features.microstructure import MicrostructureBlock

    return [IndicatorBlock(), MicrostructureBlock()], [MarketContextBlock(timeframe=timeframe)]


def all_specs(timeframe: str = "1h") -> tuple[FeatureSpec, ...]:
    """Every feature of the default set, in column order."""
    pair, panel = default_blocks(timeframe)
    return tuple(s for b in pair for s in b.specs) + tuple(s for b in panel for s in b.specs)
