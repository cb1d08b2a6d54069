"""The API's response models: what each endpoint returns, typed, in the OpenAPI schema.

Times are ISO 8601 in UTC; money is in the quote currency; distances are fractions of the
price. A value that does not exist (no price yet, a NaN) is ``null``, never a made-up 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "AgentModeIn",
    "AgentRow",
    "BudgetOut",
    "CycleRow",
    "Curve",
    "Health",
    "LogLine",
    "ModeChangeRow",
    "ModelRow",
    "OkOut",
    "OrderRow",
    "RunRow",
    "StatusOut",
    "TradeOut",
    "TradePage",
]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Freshness(BaseModel):
    """The freshness watchdog: pairs whose candles stopped, and how old the newest is."""

    last_candle: datetime | None = Field(description="Open time of the newest candle traded.")
    age_s: float | None = Field(description="Seconds from that candle's close to the clock.")
    stale: dict[str, str] = Field(description="Stale pair → open time of its newest candle.")
    stale_after: int = Field(description="Candles behind that make a pair stale.")


class CycleNow(BaseModel):
    cycle_no: int
    start_at: datetime | None
    end_at: datetime | None
    mode: str
    trades: int | None


class AgentRow(BaseModel):
    name: str
    strategy: str | None
    side: str | None
    timeframe: str | None
    mode: Literal["live", "dry_run"]
    open: int = Field(description="Real trades pending or active.")
    closed: int = Field(description="Real trades closed.")
    pnl: float = Field(description="Realised P/L of its closed real trades.")


class SessionNow(BaseModel):
    run_id: int
    equity: float | None
    clock: datetime | None


class TickNow(BaseModel):
    at: datetime
    seconds: float
    candles: int
    ticks: int = Field(description="Ticks since the node started.")


class ViewRuns(BaseModel):
    cycle: int | None
    members: list[int]
    agents: int | None


class StatusOut(BaseModel):
    served_by: Literal["node", "book"] = Field(
        description="A running node (live figures) or a trade book alone (`tradewind serve`)."
    )
    view: str
    node: str | None
    mode: str = Field(description="replay, paper, live, or the run's kind (backtest, …).")
    version: str
    server_time: datetime
    uptime_s: float
    clock: datetime | None = Field(description="The node's clock (simulated in a replay).")
    equity: float | None
    capital: float | None
    safe_mode: str | None = Field(description="Why the node takes no new entries, or null.")
    paused: bool = Field(description="Safe mode entered from the API (resume lifts it).")
    control: bool = Field(description="Whether the control endpoints are on.")
    trader_mode: str | None = Field(description="The cycle trader's mode: live or dry_run.")
    cycle: CycleNow | None
    agents: list[AgentRow]
    session: SessionNow | None
    freshness: Freshness
    last_tick: TickNow | None
    runs: ViewRuns
    nominator: str | None


class BudgetOut(BaseModel):
    run_id: int | None
    now: dict[str, float] = Field(description="Pool → its balance now.")
    history: list[dict[str, float | datetime | None]] = Field(
        description="The pools after each movement (`at` and one key per pool)."
    )
    books: list[str] = Field(description="The ledger's books (real; a session's agents).")


class TradeOut(BaseModel):
    id: int
    run_id: int
    trade_no: int
    kind: str
    sim_reason: str | None
    agent: str = Field(description="The agent, or `cycle` for the cycle trader.")
    pair: str
    side: Literal["long", "short"]
    timeframe: str | None
    cycle: int | None
    status: str | None
    nominated_at: datetime | None
    entry_at: datetime | None
    entry_price: float | None
    exit_at: datetime | None
    exit_price: float | None
    exit_reason: str | None
    stop: float | None
    initial_stop: float | None
    target: float | None
    qty: float | None
    cost: float | None
    fees: float | None
    pnl: float | None
    r_multiple: float | None
    legs: int | None
    limit_price: float | None
    window_stop: float | None
    price: float | None = Field(default=None, description="Open trades: the last close.")
    price_at: datetime | None = None
    stop_distance: float | None = Field(
        default=None, description="Open trades: (price − stop) / price, signed by side."
    )
    target_distance: float | None = Field(
        default=None, description="Open trades: (target − price) / price, signed by side."
    )
    unrealised_pnl: float | None = None


class TradePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[TradeOut]


class Curve(BaseModel):
    """An equity curve as columns of equal length, oldest first."""

    at: list[datetime] = Field(description="Open time of each candle.")
    equity: list[float]
    paper_equity: list[float | None] = Field(description="The dry-run book's (cycle trader).")
    drawdown: list[float] = Field(description="Equity / running peak − 1 (≤ 0).")


class EquityOut(BaseModel):
    run_id: int | None
    curve: Curve = Field(description="The cycle trader's (a backtest's: the run's).")
    agents_run_id: int | None
    agents: Curve = Field(description="The session of agents'.")


class CycleRow(BaseModel):
    run_id: int
    cycle_no: int
    start_at: datetime | None
    end_at: datetime | None
    mode: str
    converted_at: datetime | None
    pnl: float | None
    paper_pnl: float | None
    trades: int | None
    next_mode: str | None


class ModeChangeRow(BaseModel):
    run_id: int
    at: datetime | None
    cycle_no: int | None
    agent: str | None
    to_mode: str
    reason: str


class ModelRow(BaseModel):
    id: str
    role: str
    scope: str
    kind: str
    created_at: datetime
    promoted_at: datetime | None
    train_start: datetime | None
    train_end: datetime | None
    metrics: dict[str, float | None]


class ModelsOut(BaseModel):
    nominator: str | None
    lifecycle: str | None
    promoted: list[ModelRow]


class OrderRow(BaseModel):
    id: int
    run_id: int | None
    trade_no: int | None
    agent: str | None
    client_order_id: str
    role: str
    side: str
    type: str
    qty: float | None
    price: float | None
    stop_price: float | None
    status: str
    created_at: datetime
    updated_at: datetime
    pair: str | None
    filled: float | None
    average: float | None
    fee: float | None
    fee_asset: str | None
    note: str | None


class RunRow(BaseModel):
    id: int
    kind: str
    source: str
    created_at: datetime
    seed: int | None
    config_hash: str | None
    name: str | None
    trader: str | None
    equity: float | None
    clock: str | None


class LogLine(BaseModel):
    seq: int
    at: datetime
    level: str
    logger: str
    message: str


class AgentModeIn(BaseModel):
    mode: Literal["dry_run", "live"]


class OkOut(BaseModel):
    ok: bool
    detail: str
