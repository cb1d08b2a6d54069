"""The modular trader's session: clock, open-risk cap, sim trades, allocation, books."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradewind.config.models import AgentConfig, FillsConfig, LifecycleConfig, SessionConfig
from tradewind.data.panel import DEFAULT_FIELDS, Panel
from tradewind.data.synthetic import generate_market
from tradewind.domain.types import Timeframe
from tradewind.engine.records import ExitReason, Kind, Pool, Status
from tradewind.errors import ConfigError
from tradewind.portfolio.risk import risk_size
from tradewind.trading import session_kernel as sk
from tradewind.trading.session import Session, SetupEvents, get_timeframes

HOUR = 3_600_000_000_000
FEE = 0.0015


def _market_panel(pairs: int = 6, days: int = 30, seed: int = 5) -> Panel:
    market = generate_market(pairs=pairs, timeframe="1h", days=days, seed=seed)
    names = sorted(market.frames)
    first = min(int(f["timestamp"].iloc[0].value) for f in market.frames.values())
    last = max(int(f["timestamp"].iloc[-1].value) for f in market.frames.values())
    n_t = (last - first) // HOUR + 1
    values = np.full((n_t, len(names), 5), np.nan)
    mask = np.zeros((n_t, len(names)), bool)
    for p, name in enumerate(names):
        f = market.frames[name]
        rows = (f["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64") - first) // HOUR
        values[rows, p] = f[list(DEFAULT_FIELDS)].to_numpy()
        mask[rows, p] = True
    grid = first + HOUR * np.arange(n_t, dtype=np.int64)
    return Panel(Timeframe.parse("1h"), grid, tuple(names), DEFAULT_FIELDS, values, mask)


def _flat_panel(pairs: int, rows: int, price: float = 100.0) -> Panel:
    """Prices that never move: no stop or target is ever touched."""
    values = np.zeros((rows, pairs, 5))
    values[..., :4] = price
    values[..., 4] = 1e6
    grid = pd.Timestamp("2024-01-01", tz="UTC").value + HOUR * np.arange(rows, dtype=np.int64)
    names = tuple(f"P{i}USDT" for i in range(pairs))
    return Panel(
        Timeframe.parse("1h"), grid, names, DEFAULT_FIELDS, values, np.ones((rows, pairs), bool)
    )


def _agents() -> list[AgentConfig]:
    out = []
    for strategy, params in (
        ("channel_run", {"lookback": 48, "entry": "mid", "goal": "edge"}),
        ("trail_fractals", {"width": 5}),
    ):
        for tf in ("1h", "4h", "1d"):
            out.append(
                AgentConfig(
                    name=f"{strategy}-{tf}",
                    strategy=strategy,  # type: ignore[arg-type]
                    side="long",
                    timeframe=tf,
                    params={**params, "lookback": 10}
                    if strategy == "channel_run" and tf == "1d"
                    else params,
                    selection={"pairs": 4},  # type: ignore[arg-type]
                )
            )
    return out


def _session(panel: Panel, agents: list[AgentConfig], **cfg: float) -> Session:
    return Session(
        panel,
        agents,
        session=SessionConfig(**cfg),  # type: ignore[arg-type]
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
    )


@pytest.fixture(scope="module")
def ran() -> Session:
    session = _session(_market_panel(), _agents(), open_risk_cap=0.03)
    session.run()
    return session


def test_agents_act_only_on_their_own_candle_closes(ran: Session) -> None:
    tr = ran.trades[: ran.n_trades]
    assert len(tr) > 20
    stamps = ran.panel.timestamps
    for a, agent in enumerate(ran.agents):
        mine = tr[tr["agent"] == a]
        assert len(mine) > 0, agent.name
        closes = stamps[mine["nominated_t"]] + HOUR
        assert (closes % Timeframe.parse(agent.timeframe).nanoseconds == 0).all(), agent.name
        # ...and enters at the very next candle's open, never earlier.
        entered = mine[mine["entry_t"] >= 0]
        assert (entered["entry_t"] == entered["nominated_t"] + 1).all()


def test_every_setup_in_the_universe_becomes_a_real_or_sim_trade_once(ran: Session) -> None:
    tr = ran.trades[: ran.n_trades]
    assert set(np.unique(tr["kind"])) == {Kind.REAL, Kind.SIM}
    sim = tr[tr["kind"] == Kind.SIM]
    assert (sim["reason"] > 0).all()
    assert sk.SIM_OPEN_RISK in set(sim["reason"].tolist())
    # One trade per agent and pair at a time.
    for a in range(len(ran.agents)):
        for p in range(len(ran.panel.symbols)):
            mine = tr[(tr["agent"] == a) & (tr["pair"] == p) & (tr["entry_t"] >= 0)]
            ends = np.where(mine["exit_t"] >= 0, mine["exit_t"], 10**9)
            assert (mine["nominated_t"][1:] >= ends[:-1]).all()


def test_books_balance_and_equity_is_capital_plus_realised_pnl(ran: Session) -> None:
    # Each agent's book sums to zero over all accounts; together they hold the capital
    # plus the realised P/L of real trades.
    assert np.allclose(ran.pools.sum(axis=1), 0.0, atol=1e-6)
    tr = ran.trades[: ran.n_trades]
    real = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.CLOSED)]
    held = ran.pools[:, : Pool.PNL].sum()
    assert held == pytest.approx(ran.cfg.capital + real["pnl"].sum(), rel=1e-9)
    assert (ran.pools[:, : Pool.PNL] >= -1e-6).all()
    assert ran.open_trades().size == 0  # the run's end settles everything
    assert ran.equity[-1] == pytest.approx(held, rel=1e-9)


def test_daily_allocation_gives_out_exactly_the_capital(ran: Session) -> None:
    # Rebalancing moves money between agents through the session account: what the
    # session received equals what it gave, each day.
    led = ran.ledger[: int(ran.counters[sk.C_NLEDGER])]
    moves = led[(led["src"] == Pool.SESSION) | (led["dst"] == Pool.SESSION)]
    assert len(moves) > 0
    for t in np.unique(moves["t"]):
        day = moves[moves["t"] == t]
        given = day["amount"][day["src"] == Pool.SESSION].sum()
        taken = day["amount"][day["dst"] == Pool.SESSION].sum()
        if t > 0:
            assert given == pytest.approx(taken, rel=1e-9, abs=1e-6)
    assert -ran.pools[:, Pool.SESSION].sum() == pytest.approx(ran.cfg.capital)


def _events(rows: list[tuple[int, int, int, float, float]]) -> SetupEvents:
    """(row, agent, pair, ref, stop) setups, long, no target."""
    arr = np.array(rows, dtype=np.float64)
    n = len(rows)
    return SetupEvents(
        t=arr[:, 0].astype(np.int64),
        agent=arr[:, 1].astype(np.int64),
        pair=arr[:, 2].astype(np.int64),
        bar=arr[:, 0].astype(np.int64),
        rejected=np.zeros(n, bool),
        ref=arr[:, 3].copy(),
        level=arr[:, 3].copy(),
        stop=arr[:, 4].copy(),
        target=np.full(n, np.nan),
    )


def _agent(name: str = "a", tf: str = "1h") -> AgentConfig:
    return AgentConfig(name=name, strategy="trail_fractals", side="long", timeframe=tf)


@pytest.mark.parametrize("cap", [0.004, 0.007, 0.01])
def test_open_risk_cap_refuses_exactly_the_trades_that_would_breach_it(cap: float) -> None:
    rng = np.random.default_rng(int(cap * 1000))
    pairs = 12
    stops = 100.0 - rng.uniform(2.0, 8.0, pairs)
    rows = [(10, 0, p, 100.0, float(stops[p])) for p in range(pairs)]
    session = _session(
        _flat_panel(pairs, 30),
        [_agent()],
        capital=100_000.0,
        risk_per_trade=0.002,
        open_risk_cap=cap,
    )
    session = Session(
        session.panel,
        session.agents,
        session=session.cfg,
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_events(rows),
    )
    session.step(11)
    tr = session.trades[: session.n_trades]
    assert len(tr) == pairs
    # The oracle: portfolio.risk.risk_size, taking the setups in order.
    taken = 0.0
    expected = []
    for p in range(pairs):
        s = risk_size(
            equity=100_000.0,
            risk_fraction=0.002,
            entry=100.0,
            stop=float(stops[p]),
            side=1,
            budget=math.inf,
            fee=FEE,
            open_risk_now=taken,
            open_risk_cap=cap,
        )
        expected.append(s.qty > 0)
        if s.qty > 0:
            taken += s.risk
            assert tr["target_qty"][p] == pytest.approx(s.qty, rel=1e-12)
    got = (tr["kind"] == Kind.REAL).tolist()
    assert got == expected
    assert 0 < sum(got) < pairs  # the cap binds in every case
    refused = tr[tr["kind"] == Kind.SIM]
    assert (refused["reason"] == sk.SIM_OPEN_RISK).all()
    # Refused setups are followed on paper like the real ones: they enter next bar.
    session.step(12)
    tr = session.trades[: session.n_trades]
    assert (tr["status"] == Status.ACTIVE).all()


def test_no_budget_and_dry_run_make_sim_trades_with_their_reason() -> None:
    rows = [(5, 0, 0, 100.0, 95.0), (5, 0, 1, 100.0, 95.0)]
    session = Session(
        _flat_panel(2, 20),
        [_agent()],
        session=SessionConfig(capital=1_000.0, risk_per_trade=0.2, open_risk_cap=1.0),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_events(rows),
    )
    session.step(6)
    tr = session.trades[: session.n_trades]
    # The first takes all the budget (risk 20 % of 1,000 over a 5-wide stop wants ~40
    # units = 4,000, capped by the budget); nothing is left for the second.
    assert tr["kind"].tolist() == [Kind.REAL, Kind.SIM]
    assert tr["reason"][1] == sk.SIM_NO_BUDGET
    assert session.pools[0, Pool.MAIN] == pytest.approx(0.0, abs=1e-9)


def test_a_halted_session_makes_no_new_real_trade_and_keeps_exiting() -> None:
    """A live node's safe mode: setups from the halt on are simulated with the reason
    ``safe_mode``; the real trade open before it keeps its stop, and lifting the halt
    trades again."""
    rows = [(3, 0, 0, 100.0, 95.0), (8, 0, 1, 100.0, 95.0), (14, 0, 2, 100.0, 95.0)]
    panel = _flat_panel(3, 20)
    session = Session(
        panel,
        [_agent()],
        session=SessionConfig(capital=10_000.0, risk_per_trade=0.01, open_risk_cap=1.0),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_events(rows),
    )
    session.step(6)
    session.halt(6)
    assert session.halted_from == 6
    session.step(12)
    tr = session.trades[: session.n_trades]
    assert tr["kind"].tolist() == [Kind.REAL, Kind.SIM]
    assert tr["reason"][1] == sk.SIM_SAFE
    assert sk.SIM_REASONS[sk.SIM_SAFE] == "safe_mode"
    assert tr["status"][0] == Status.ACTIVE  # still managed
    session.halt(None)
    assert session.halted_from is None
    session.step(20)
    assert session.trades[2]["kind"] == Kind.REAL


def test_an_entry_past_its_stop_at_the_open_is_void() -> None:
    panel = _flat_panel(1, 10)
    panel.values[6, 0, 0] = 94.0  # the next open gaps below the stop
    session = Session(
        panel,
        [_agent()],
        session=SessionConfig(),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_events([(5, 0, 0, 100.0, 95.0)]),
    )
    session.run()
    tr = session.trades[0]
    assert tr["status"] == Status.EXPIRED
    assert tr["exit_reason"] == ExitReason.INVALID
    assert session.pools[0, Pool.MAIN] == pytest.approx(session.cfg.capital)


def test_timeframes_finer_than_the_clock_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a whole multiple"):
        _session(_flat_panel(1, 10), [_agent(tf="15m")])


def test_get_timeframes_runs_each_agent_once_per_close() -> None:
    agents = [_agent("a", "1h"), _agent("b", "4h"), _agent("c", "1d")]
    seen: dict[str, pd.Timestamp] = {}
    acted = {"1h": 0, "4h": 0, "1d": 0}
    now = pd.Timestamp("2024-01-01 00:00", tz="UTC")
    while now < pd.Timestamp("2024-01-03 00:00", tz="UTC"):
        now += pd.Timedelta(minutes=15)
        for tf, candle in get_timeframes(now, agents, seen).items():
            acted[tf] += 1
            seen[tf] = candle
        assert get_timeframes(now, agents, seen) == {}  # a second pass: nothing due
    # The first pass acts on the last candle closed before it; then once per close.
    assert acted == {"1h": 1 + 48, "4h": 1 + 12, "1d": 1 + 2}


def _head(panel: Panel, rows: int) -> Panel:
    return Panel(
        panel.timeframe,
        panel.timestamps[:rows],
        panel.symbols,
        panel.fields,
        panel.values[:rows],
        panel.mask[:rows],
    )


def test_a_session_saved_and_restored_between_passes_trades_as_one_run() -> None:
    from tradewind.trading.session import dump_state, load_state, restore, snapshot

    panel = _market_panel(days=24)
    agents = _agents()[:2] + _agents()[3:5]
    start = 5 * 24
    kwargs = {
        "session": SessionConfig(open_risk_cap=0.03),
        "lifecycle": LifecycleConfig(),
        "fills": FillsConfig(fee=FEE),
        "close_at_end": False,
    }
    whole = Session(panel, agents, start=start, **kwargs)  # type: ignore[arg-type]
    whole.run()
    saved: dict[str, np.ndarray] | None = None
    cuts = [start + 1, start + 7, start + 30, start + 31, 16 * 24 + 5, len(panel.timestamps)]
    for cut in cuts:
        part = Session(_head(panel, cut), agents, start=start, **kwargs)  # type: ignore[arg-type]
        if saved is not None:
            restore(part, load_state(dump_state(saved)))
        part.step(cut)
        saved = snapshot(part)
    assert part.n_trades == whole.n_trades > 10
    got, want = part.trades[: part.n_trades], whole.trades[: whole.n_trades]
    for name in want.dtype.names or ():
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)  # NaN == NaN here
    np.testing.assert_array_equal(part.pools, whole.pools)
    assert (whole.trades[: whole.n_trades]["status"] == Status.ACTIVE).any()  # left open


def _two_sided_events(rows: list[tuple[int, int, int, float, float, float]]) -> SetupEvents:
    """(row, agent, pair, ref, stop, target) setups."""
    arr = np.array(rows, dtype=np.float64)
    ev = _events([(int(r[0]), int(r[1]), int(r[2]), r[3], r[4]) for r in rows])
    return SetupEvents(
        t=ev.t,
        agent=ev.agent,
        pair=ev.pair,
        bar=ev.bar,
        rejected=ev.rejected,
        ref=ev.ref,
        level=ev.level,
        stop=ev.stop,
        target=arr[:, 5].copy(),
    )


def test_an_agent_with_the_dry_run_switch_goes_to_paper_and_back() -> None:
    days = 5
    panel = _flat_panel(1, 24 * days)
    low, high = 2, 1
    panel.values[0 * 24 + 12, 0, low] = 90.0  # day 0: the stop (95) is hit
    panel.values[1 * 24 + 12, 0, low] = 90.0  # day 1: again
    panel.values[2 * 24 + 12, 0, high] = 110.0  # day 2: the target (105) is hit
    rows = [(d * 24 + 10, 0, 0, 100.0, 95.0, 105.0) for d in range(4)]
    agent = AgentConfig(
        name="a", strategy="channel_run", side="long", timeframe="1h", dry_run_switch=True
    )
    session = Session(
        panel,
        [agent],
        session=SessionConfig(dry_run_loss_days=2, open_risk_cap=1.0),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_two_sided_events(rows),
    )
    session.run()
    tr = session.trades[: session.n_trades]
    assert tr["kind"].tolist() == [Kind.REAL, Kind.REAL, Kind.SIM, Kind.REAL]
    assert tr["reason"][2] == sk.SIM_DRY_RUN
    assert tr["exit_reason"].tolist()[:3] == [
        ExitReason.STOP,
        ExitReason.STOP,
        ExitReason.TAKE_PROFIT,
    ]
    modes = session.modes[: int(session.counters[sk.C_NMODES])]
    # At the close of day 1 (its second losing day) to paper; a winning paper day 2 back.
    assert modes["mode"].tolist() == [sk.MODE_DRY, sk.MODE_LIVE]
    assert modes["t"].tolist() == [2 * 24 - 1, 3 * 24 - 1]


def test_sizes_below_the_exchange_minimum_become_sim_trades() -> None:
    from tradewind.data.markets import MarketRules

    session = Session(
        _flat_panel(2, 20),
        [_agent()],
        session=SessionConfig(capital=1_000.0, risk_per_trade=0.001),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        rules={
            "P0USDT": MarketRules(lot_step=0.01, min_notional=5.0),
            "P1USDT": MarketRules(lot_step=0.01, min_notional=50.0),
        },
        events=_events([(5, 0, 0, 100.0, 95.0), (5, 0, 1, 100.0, 95.0)]),
    )
    session.step(7)
    tr = session.trades[: session.n_trades]
    # 0.1 % of 1,000 over a ~5.3-wide loss per unit: 0.19 units, rounded to 0.18 (18 quote).
    assert tr["kind"].tolist() == [Kind.REAL, Kind.SIM]
    assert tr["qty"][0] == pytest.approx(0.18)
    assert tr["reason"][1] == sk.SIM_TOO_SMALL


def test_the_venue_nets_agents_on_one_pair() -> None:
    from tradewind.trading.scan import net_positions

    agents = [
        _agent("long"),
        AgentConfig(name="short", strategy="trail_fractals", side="short", timeframe="1h"),
    ]
    rows = [(5, 0, 0, 100.0, 95.0, np.nan), (5, 1, 0, 100.0, 103.0, np.nan)]
    session = Session(
        _flat_panel(1, 20),
        agents,
        session=SessionConfig(open_risk_cap=1.0),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_two_sided_events(rows),
        close_at_end=False,
    )
    session.run()
    tr = session.trades[: session.n_trades]
    assert (tr["status"] == Status.ACTIVE).all()
    (pos,) = net_positions(session)
    assert pos["net_qty"] == pytest.approx(tr["qty"][0] - tr["qty"][1])
    assert pos["agents"] == ["long", "short"]


def test_a_breakout_level_already_traded_is_not_a_new_setup() -> None:
    rows = [(5, 0, 0, 100.0, 95.0), (9, 0, 0, 100.0, 95.0), (12, 0, 0, 100.5, 95.0)]
    panel = _flat_panel(1, 20)
    panel.values[7, 0, 2] = 90.0  # the first trade stops out at row 7
    session = Session(
        panel,
        [_agent()],  # trail fractals: every close past a fractal high repeats its level
        session=SessionConfig(open_risk_cap=1.0),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0),
        events=_events(rows),
    )
    session.run()
    tr = session.trades[: session.n_trades]
    assert tr["nominated_t"].tolist() == [5, 12]  # row 9 repeats the level of row 5


def test_agents_trade_only_their_universe_of_the_day(ran: Session) -> None:
    from tradewind.strategies.universe import universe_ranks

    tr = ran.trades[: ran.n_trades]
    stamps = ran.panel.timestamps
    seen_out = 0
    for a, view in enumerate(ran.views):
        mine = tr[tr["agent"] == a]
        for t, p in zip(mine["nominated_t"].tolist(), mine["pair"].tolist(), strict=True):
            # The universe of the UTC day the decision falls in, ranked the row before it.
            day_start = (int(stamps[t]) + HOUR) // 86_400_000_000_000 * 86_400_000_000_000
            row = int(np.searchsorted(stamps, day_start)) - 1
            ranks = universe_ranks(ran.panel, np.array([row]), view.config.selection.pairs)[0]
            assert ranks[p] >= 0
        seen_out += int((view.universe < 0).sum())
    assert seen_out > 0  # 4 of 6 pairs: some pairs were left out on some days


def test_a_shrunk_setup_is_sized_by_its_factor() -> None:
    rows = [(5, 0, 0, 100.0, 95.0), (5, 0, 1, 100.0, 95.0)]

    def run(scale: np.ndarray | None) -> np.ndarray:
        s = Session(
            _flat_panel(2, 20),
            [_agent()],
            session=SessionConfig(capital=100_000.0, risk_per_trade=0.001, open_risk_cap=1.0),
            lifecycle=LifecycleConfig(),
            fills=FillsConfig(fee=FEE, slippage=0.0),
            events=_events(rows),
            scale=scale,
        )
        s.step(6)
        return s.trades[: s.n_trades]["target_qty"]

    full = run(None)
    half = run(np.array([0.5, 1.0]))
    assert half[0] == pytest.approx(full[0] / 2)
    assert half[1] == pytest.approx(full[1])
    with pytest.raises(ValueError, match="one factor in"):
        run(np.array([0.0, 1.0]))


def test_a_short_pays_its_borrowing_interest_and_the_trade_table_shows_it() -> None:
    from tradewind.trading.session_report import session_tables

    panel = _flat_panel(1, 20)
    panel.values[12, 0, 1] = 110.0  # the high of row 12 reaches the short's stop
    short = AgentConfig(name="s", strategy="trail_fractals", side="short", timeframe="1h")
    costs = {}
    for rate in (0.0, 0.0024):
        session = Session(
            panel,
            [short],
            session=SessionConfig(capital=10_000.0, risk_per_trade=0.01, open_risk_cap=1.0),
            lifecycle=LifecycleConfig(),
            fills=FillsConfig(fee=0.0, slippage=0.0, borrow_rate=rate),
            events=_events([(3, 0, 0, 100.0, 105.0)]),
        )
        session.run()
        trades, _, _ = session_tables(session)
        (row,) = trades.itertuples()
        assert row.side == -1
        assert row.exit_reason == "stop"
        costs[rate] = (row.pnl, row.fees, row.borrow, row.qty, row.entry_price)
    pnl0, fees0, borrow0, qty, entry = costs[0.0]
    pnl, fees, borrow, _, _ = costs[0.0024]
    assert borrow0 == 0.0
    # Entered at the open of row 4, stopped in row 12: nine bars begun, 0.01 % each.
    assert borrow == pytest.approx(qty * entry * 0.0001 * 9)
    assert fees == pytest.approx(fees0 + borrow)
    assert pnl == pytest.approx(pnl0 - borrow)
