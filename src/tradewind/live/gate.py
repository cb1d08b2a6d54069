"""The ``--live`` gate: real orders only when asked for twice and keyed from the
environment; paper is what runs otherwise."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tradewind.config import Settings
from tradewind.errors import ConfigError

if TYPE_CHECKING:
    from tradewind.venues.ccxt_venue import CcxtVenue

__all__ = ["KEY_VARS", "live_gate", "live_plan"]

#: Where the keys must come from: the environment, never a file.
KEY_VARS = ("TRADEWIND__EXCHANGE__API_KEY", "TRADEWIND__EXCHANGE__API_SECRET")


def live_gate(settings: Settings, *, live: bool, testnet: bool) -> None:
    """Refuse ``--live`` unless the config says ``live.mode = "live"``, both keys are set
    in the environment, and ``--testnet`` agrees with ``exchange.testnet``; every reason
    is named at once. Without ``--live`` nothing is checked: the node trades on paper."""
    if not live:
        return
    problems: list[str] = []
    if settings.live.mode != "live":
        problems.append(
            f'the config says live.mode = "{settings.live.mode}" (set it to "live" as well)'
        )
    missing = [v for v in KEY_VARS if not os.environ.get(v)]
    if missing:
        problems.append(f"{' and '.join(missing)} not set in the environment")
    if testnet != settings.exchange.testnet:
        said = "given" if testnet else "not given"
        problems.append(
            f"--testnet is {said} but exchange.testnet = {str(settings.exchange.testnet).lower()}"
            ": say the same in both"
        )
    if problems:
        raise ConfigError("refusing to trade live: " + "; ".join(problems))


def _agents_plan(settings: Settings) -> dict[str, Any]:
    """Which agents trade at the exchange (long ones, netted per pair) and which stay on
    paper (short ones: a spot account holds no short position)."""
    longs = [a.name for a in settings.agents if a.side == "long"]
    shorts = [a.name for a in settings.agents if a.side != "long"]
    plan: dict[str, Any] = {"at_exchange": longs, "netted": "one position per pair"}
    if shorts and settings.live.shorts == "margin":
        plan["on_margin"] = shorts
    elif shorts:
        plan["paper_only"] = shorts
        plan["why_paper"] = (
            'a spot account holds no short position; live.shorts = "margin" trades them '
            "on the cross-margin account"
        )
    return plan


def live_plan(settings: Settings, venue: CcxtVenue, quote: str = "USDT") -> dict[str, Any]:
    """What a live node will trade and with how much, printed before it starts; refuses
    when the account holds less of the quote asset than the configuration trades with."""
    balances = venue.balances()
    free, locked = balances.get(quote, (0.0, 0.0))
    capital = settings.cycle.capital
    if any(a.side == "long" for a in settings.agents):
        capital += settings.session.capital  # the agents trade from the same account
    plan: dict[str, Any] = {
        "exchange": settings.exchange.name,
        "testnet": settings.exchange.testnet,
        "node": settings.live.name,
        "timeframe": settings.data.timeframe,
        "pairs": list(settings.data.pairs) or "every pair in the candle store",
        "capital": capital,
        "quote": quote,
        "account_free": free,
        "pairs_per_cycle": settings.cycle.pairs_per_cycle,
        "protective_stops": settings.live.protective_stops,
        "circuit_breakers": {
            "daily_loss_limit": settings.live.daily_loss_limit,
            "max_drawdown": settings.live.max_drawdown,
        },
        "agents": _agents_plan(settings) if settings.agents else None,
        "ensemble": settings.live.ensemble,
    }
    if settings.live.shorts == "margin" and any(a.side == "short" for a in settings.agents):
        margin = venue.margin_balances()
        plan["margin_free"] = margin.get(quote, (0.0, 0.0, 0.0, 0.0))[0]
        plan["margin_borrowed"] = {a: v[2] for a, v in margin.items() if v[2] > 0}
    if free < capital:
        raise ConfigError(
            f"refusing to trade live: the account has {free:,.2f} {quote} free "
            f"({locked:,.2f} locked), the config trades with {capital:,.2f} (cycle.capital, "
            "plus session.capital when agents trade)"
        )
    return plan
