"""What a running node tells its status server beyond the trade book, and the two things
the server may ask of it (with ``api.control`` on): pause new entries and resume them,
close one trade, switch one agent between dry run and live.

The node publishes a small snapshot after each tick (one assignment, so a reader never
sees half of one); reading it takes no lock and never delays a tick. Pausing takes the
node's lock like a tick does, so it falls between two ticks.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradewind.live.ensemble import EnsembleNode
    from tradewind.live.node import CycleNode

__all__ = ["NodeLink"]


class NodeLink:
    """The node (an ensemble: its host, which pauses and resumes every member)."""

    def __init__(self, node: CycleNode | EnsembleNode) -> None:
        self.outer = node
        from tradewind.live.ensemble import EnsembleNode

        self.node: CycleNode = node.host if isinstance(node, EnsembleNode) else node
        self.name = node.name

    def status(self) -> dict[str, Any]:
        node = self.node
        snap = node.snapshot
        return {
            "source": node.source,
            "clock": node.clock.now().to_pydatetime(),
            "last_candle": snap.get("last_candle"),
            "equity": snap.get("equity"),
            "safe": self.outer.safe,
            "paused": node.paused,
            "stale": snap.get("stale", {}),
            "tick": snap.get("tick"),
        }

    def prices(self, pairs: list[str]) -> dict[str, tuple[float, datetime | None]]:
        return self.node.last_prices(pairs)

    def pause(self) -> bool:
        return self.node.pause()

    def resume(self) -> tuple[bool, str]:
        return self.node.resume()

    def close_trade(self, trade_id: int) -> tuple[bool, str]:
        return self.node.close_trade(trade_id)

    def set_agent_mode(self, agent: str, mode: str) -> tuple[bool, str]:
        return self.node.set_agent_mode(agent, mode)
