"""The node in replay: the backtest's trades, one tick at a time; state that survives a
stop and a crash; one node per trade book; the --live gate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.backtest.test_run import SMALL
from tradewind.backtest.run import load_backtest_panel, make_trader, run_inputs
from tradewind.config import load_config
from tradewind.data.panel import Panel
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.errors import ConfigError, StateError
from tradewind.live import node as node_module
from tradewind.live.clock import SimClock
from tradewind.live.gate import live_gate
from tradewind.live.market import NEVER, GrowingMarket
from tradewind.live.node import CycleNode
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook
from tradewind.trading.cycle import MarketArrays
from tradewind.trading.cycle_report import trade_tables
from tradewind.trading.state import load_state

ENV = {
    **SMALL,
    "TRADEWIND__CYCLE__NOMINATOR": "momentum",
    "TRADEWIND__LIVE__HISTORY": "5d",
    "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",  # a random choice among the nominated
}
START = pd.Timestamp("2024-01-06", tz="UTC")  # the synthetic market starts on 2024-01-01


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def _rows(panel: Panel, a: int, b: int) -> Panel:
    return replace(
        panel, timestamps=panel.timestamps[a:b], values=panel.values[a:b], mask=panel.mask[a:b]
    )


def test_the_growing_grid_lays_candles_out_as_a_backtest_does() -> None:
    m = generate_market(pairs=4, timeframe="1h", days=6, seed=1)
    full = load_panel_of(m)
    rng = np.random.default_rng(3)
    holes = rng.random(full.mask.shape) < 0.1  # missing candles, carried over
    full.values[holes] = np.nan
    full.mask[holes] = False
    n = len(full.timestamps)
    grown = GrowingMarket(_rows(full, 0, 10), ahead=4)
    capacity = grown.capacity
    at = 10
    for piece in (1, 3, 1, 17, 40, n):
        b = min(n, at + piece)
        grown.extend(_rows(full, at, b))
        at = b
    assert grown.rows == n
    assert grown.capacity > capacity  # it had to grow, more than once
    want = MarketArrays.of(full)
    for name in ("open", "high", "low", "close", "volume", "last_close"):
        np.testing.assert_array_equal(getattr(grown.market, name)[:, :n], getattr(want, name))
    np.testing.assert_array_equal(grown.market.valid[:, :n], want.valid)
    assert not grown.market.valid[:, n:].any()  # rows still ahead: no candle yet
    assert (grown.market.last_valid == NEVER).all()  # no pair's data has ended
    with pytest.raises(Exception, match="must follow the node's last row"):
        grown.extend(_rows(full, n - 2, n))


def load_panel_of(m: object) -> Panel:
    import tempfile

    from tradewind.data.panel import load_panel

    with tempfile.TemporaryDirectory() as tmp:
        store = CandleStore(Path(tmp), "synthetic")
        write_market(m, store)  # type: ignore[arg-type]
        return load_panel(store, None, "1h")


def _backtest_trader(settings: object, start: pd.Timestamp) -> Any:
    panel = load_backtest_panel(settings)  # type: ignore[arg-type]
    origin = start - pd.Timedelta(days=5)
    first = int(np.searchsorted(panel.timestamps, origin.value))
    panel = _rows(panel, first, len(panel.timestamps))
    trader = make_trader(settings, run_inputs(settings, panel))  # type: ignore[arg-type]
    trader.run(first=int(np.searchsorted(panel.timestamps, start.value)))
    return trader


def _backtest(settings: object, start: pd.Timestamp) -> pd.DataFrame:
    return trade_tables(_backtest_trader(settings, start))[0]


def _book_trades(settings: object, run_id: int | None) -> pd.DataFrame:
    with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
        return book.trades(run_id=run_id)


COLUMNS = {  # trade book column → backtest table column
    "trade_no": "id",
    "pair": "pair",
    "kind": "kind",
    "cycle": "cycle",
    "status": "status",
    "alloc": "alloc",
    "entry_at": "entry_time",
    "entry_price": "entry_price",
    "exit_at": "exit_time",
    "exit_price": "exit_price",
    "exit_reason": "exit_reason",
    "qty": "qty",
    "pnl": "pnl",
    "fees": "fees",
}


def test_a_replay_trades_as_the_backtest_trade_for_trade(
    market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A grid only 7 rows ahead of the candles: it grows every few ticks, and every
    # nomination's 24 h expiry lies past its end when the state is saved.
    monkeypatch.setattr(CycleNode, "AHEAD", 7)
    settings = load_config(environ=ENV)
    end = pd.Timestamp("2024-02-10", tz="UTC")  # the data goes on past the replay
    result = replay(settings, START, end)
    hours = int((end - START) / pd.Timedelta("1h"))
    assert result.ticks == result.candles == hours + 1  # a tick per candle, both ends in
    got = _book_trades(settings, result.run_id)
    trader = _backtest_trader(settings, START)
    want = trade_tables(trader)[0]
    # The equity curve in the book is the backtest's, candle for candle from the start
    # (the status server draws it from there).
    with TradeBook(settings.book_url) as book:
        curve = book.equity(result.run_id)
    stamps = trader.panel.timestamps
    rows = (stamps >= START.value) & (stamps <= (end - pd.Timedelta("1h")).value)
    assert len(curve) == int(rows.sum()) == hours
    assert curve["at"].tolist() == list(pd.DatetimeIndex(stamps[rows], tz="UTC"))
    # The replay's last candle is the data's last: there the backtest closes what is open
    # (data_end, by design), so the curves are compared up to the candle before it.
    assert rows[-1]
    np.testing.assert_array_equal(curve["equity"].to_numpy()[:-1], trader.equity[rows][:-1])
    np.testing.assert_array_equal(
        curve["paper_equity"].to_numpy()[:-1], trader.paper_equity[rows][:-1]
    )
    # The backtest saw the same candles up to the replay's end, and more after it.
    want = want[want["nominated_time"] < end - pd.Timedelta("1h")]
    assert len(got) == len(want) > 10
    closed_before_end = (want["exit_time"] < end - pd.Timedelta("1h")).to_numpy()
    assert closed_before_end.sum() > 10
    for col, theirs in COLUMNS.items():
        a = got[col].to_numpy()[closed_before_end]
        b = want[theirs].to_numpy()[closed_before_end]
        if col in ("entry_at", "exit_at"):
            a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True)
            assert list(a) == list(b), col
        elif a.dtype.kind == "f":
            np.testing.assert_allclose(a, b.astype(float), rtol=0, atol=0, err_msg=col)
        else:
            assert list(a) == list(b), col
    # Decisions on the backtest's candle: the 1h candle closing at 23:00, the last close
    # at or before 23:55; and only when no cycle ran.
    assert len(result.decided) >= 5
    assert all(d.endswith("T22:00:00+00:00") for d in result.decided)
    # The book holds every trade as the node's trader now does, open ones included.
    with CycleNode(settings, source="replay", clock=SimClock(end)) as node:
        memory = trade_tables(node.trader)[0]
    assert len(memory) == len(got)
    for col in ("status", "entry_at", "exit_at", "exit_price", "qty"):
        a, b = got[col].to_numpy(), memory[COLUMNS[col]].to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b.astype(float), err_msg=col)
        else:
            assert list(pd.Series(a).astype(str)) == list(pd.Series(b).astype(str)), col


@pytest.mark.parametrize("chunks", [False, True], ids=["whole-state", "archived-in-chunks"])
def test_a_replay_stopped_or_crashed_goes_on_as_one_run(
    market: Path, monkeypatch: pytest.MonkeyPatch, chunks: bool
) -> None:
    if chunks:  # tiny chunks: the finished trades, ledger and equity are archived often
        monkeypatch.setattr(node_module, "CHUNK_ROWS", {"trades": 2, "ledger": 5, "equity": 24})
    settings = load_config(environ=ENV)
    end = pd.Timestamp("2024-01-26", tz="UTC")
    whole = replay(settings, START, end, name="whole")
    # Stopped on the 12th of January, run again to the end.
    replay(settings, START, pd.Timestamp("2024-01-12", tz="UTC"), name="parts")
    # Then a crash inside a tick's save (nothing of that tick is committed) ...
    calls = {"n": 0}
    real = TradeBook.save_node_tick

    def flaky(self: TradeBook, **kw: object) -> int:
        calls["n"] += 1
        if calls["n"] == 40:
            raise RuntimeError("power cut")
        return real(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(TradeBook, "save_node_tick", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        replay(settings, START, end, name="parts")
    monkeypatch.setattr(TradeBook, "save_node_tick", real)
    parts = replay(settings, START, end, name="parts")  # ... and a restart
    assert parts.ticks < whole.ticks  # it went on; it did not start over
    a, b = _book_trades(settings, whole.run_id), _book_trades(settings, parts.run_id)
    assert len(a) == len(b) > 2
    for col in COLUMNS:
        assert a[col].tolist() == b[col].tolist() or np.allclose(
            a[col].to_numpy(float), b[col].to_numpy(float), equal_nan=True
        ), col
    assert whole.equity == parts.equity
    with TradeBook(settings.book_url) as book:
        ledgers = [book.table("ledger", run_id=r.run_id) for r in (whole, parts)]
        archived = book.state_chunks("parts")
        state = book.session_state("parts")
    cols = ["at", "amount", "src", "dst", "reason", "trade_no", "book"]
    pd.testing.assert_frame_equal(ledgers[0][cols], ledgers[1][cols])
    # The equity curve too: no candle twice after the crash, none missing
    with TradeBook(settings.book_url) as book:
        curves = [book.equity(r.run_id) for r in (whole, parts)]
    assert len(curves[0]) > 24 * 15
    pd.testing.assert_frame_equal(curves[0], curves[1])
    if chunks:
        assert set(archived) == {"trades", "ledger", "equity"}
        assert len(archived["equity"]) >= 10
        assert state is not None
        # The state row holds what follows the archive: far less than the whole run.
        with CycleNode(settings, source="replay", clock=SimClock(end), name="parts") as node:
            head = load_state(state.payload)
            assert len(head["equity"]) < 24
            assert len(head["trades"]) < node.trader.n_trades
    else:
        assert archived == {}


def test_one_node_per_trade_book(market: Path) -> None:
    settings = load_config(environ=ENV)
    clock = SimClock(START)
    with CycleNode(settings, source="replay", clock=clock, start=START):
        with pytest.raises(StateError, match="another node runs on this trade book"):
            CycleNode(settings, source="replay", clock=clock, start=START, name="second")
    # Released with the first: a node starts again.
    CycleNode(settings, source="replay", clock=clock, start=START).close()


def test_a_node_of_another_source_is_not_taken_over(market: Path) -> None:
    settings = load_config(environ=ENV)
    replay(settings, START, pd.Timestamp("2024-01-08", tz="UTC"))
    with pytest.raises(StateError, match="is a replay node, not paper"):
        CycleNode(settings, source="paper", clock=SimClock(START), start=START)


def test_the_live_gate_names_every_reason_and_no_secret(
    market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_config(environ=ENV)
    live_gate(settings, live=False, testnet=False)  # paper: nothing to check
    with pytest.raises(ConfigError) as info:
        live_gate(settings, live=True, testnet=True)
    text = str(info.value)
    assert 'live.mode = "paper"' in text
    assert "TRADEWIND__EXCHANGE__API_KEY and TRADEWIND__EXCHANGE__API_SECRET" in text
    assert "--testnet is given but exchange.testnet = false" in text
    secret = "s3cr3t-value-never-shown"  # noqa: S105 - a fake key, to look for
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_KEY", "key-never-shown")
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_SECRET", secret)
    keyed = load_config(environ={**ENV, "TRADEWIND__LIVE__MODE": "live"})
    live_gate(keyed, live=True, testnet=False)  # asked twice, keyed: the gate opens
    with pytest.raises(ConfigError) as again:
        live_gate(keyed, live=True, testnet=True)
    assert secret not in str(again.value)
    assert "key-never-shown" not in str(again.value)


def test_times_past_the_grid_are_kept_for_what_lies_ahead_only() -> None:
    from tradewind.trading.state import ns_to_rows, rows_to_ns

    stamps = np.arange(5, dtype=np.int64) * 10 + 100  # 100, 110, …, 140
    rows = np.array([-1, 0, 4, 7])
    ns = rows_to_ns(rows, stamps)
    assert ns.tolist() == [-1, 100, 140, 170]
    assert ns_to_rows(ns, stamps, "an expiry", ahead=True).tolist() == rows.tolist()
    with pytest.raises(StateError, match="the clock at .* is not on the candle grid"):
        ns_to_rows(ns, stamps, "the clock")  # a clock past the candles: they were lost
    with pytest.raises(StateError, match="not on the candle grid"):
        ns_to_rows(np.array([175]), stamps, "an expiry", ahead=True)  # off the spacing


def test_the_sim_clock_runs_forward() -> None:
    clock = SimClock(START)
    clock.set(START + pd.Timedelta("1h"))
    assert clock.now() == START + pd.Timedelta("1h")
    with pytest.raises(ValueError, match="time runs forward"):
        clock.set(START)


@pytest.mark.parametrize("bars", ["1h", "4h"], ids=["every-tick", "every-fourth-tick"])
def test_a_node_with_agents_runs_their_session_as_one_long_run(
    home: Path, bars: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [[agents]] the node also runs their session at every tick, in memory on its
    own grid (setups prepared again only when an agent's bar closes): its trades are those
    of one session run over the same candles, from the node's history on."""
    from tests.unit.trading.test_scan import CONFIG, T0
    from tradewind.data.panel import load_panel
    from tradewind.engine.records import Kind
    from tradewind.trading.session import Session

    write_market(
        generate_market(pairs=5, timeframe="1h", days=20, seed=8),
        CandleStore(home / "data", "synthetic"),
    )
    # With every agent on 4h, three ticks in four close no agent's bar: they only step the
    # session over the new candle, on the setups the last bar's close prepared.
    config = CONFIG.replace('timeframe = "1h"\nparams', f'timeframe = "{bars}"\nparams')
    (home / "tradewind.toml").write_text(
        config + '\n[cycle]\nnominator = "momentum"\n[live]\nhistory = "8d"\n'
    )
    settings = load_config(home / "tradewind.toml", environ={})
    start, end = T0 + pd.Timedelta(days=9), T0 + pd.Timedelta(days=13)
    if bars == "1h":  # a grid 7 rows ahead: it grows every few ticks, the session with it
        monkeypatch.setattr(CycleNode, "AHEAD", 7)
    if bars == "4h":  # tiny chunks: the session's finished trades and ledger archived often
        from tradewind.live import agents as agents_module

        monkeypatch.setattr(agents_module, "SESSION_CHUNK_ROWS", {"trades": 2, "ledger": 3})
    # Stopped half way and started again: the session goes on from its saved state.
    half = replay(settings, start, start + pd.Timedelta(days=2, hours=5))
    result = replay(settings, start, end)
    assert result.agents_run_id == half.agents_run_id is not None
    assert result.ticks < 4 * 24 + 1
    saved = _book_trades(settings, result.agents_run_id)
    store = CandleStore(home / "data", "synthetic")
    origin = start - pd.Timedelta(days=8)  # live.history
    panel = load_panel(store, None, "1h", start=origin, end=end - pd.Timedelta("1h"))
    one = Session(
        panel,
        settings.agents,
        session=settings.session,
        lifecycle=settings.lifecycle,
        fills=settings.fills,
        start=int(np.searchsorted(panel.timestamps, (start - pd.Timedelta("1h")).value)),
        close_at_end=False,
    )
    one.run()
    tr = one.trades[: one.n_trades]
    mine = saved[saved["kind"] != "tracked"].sort_values("trade_no")
    assert len(mine) == len(tr) > 3
    kinds = np.where(tr["kind"] == Kind.REAL, "real", "sim")
    assert (mine["kind"].to_numpy() == kinds).all()
    entered = tr["entry_t"] >= 0
    np.testing.assert_allclose(
        mine["entry_price"].to_numpy()[entered], tr["entry_price"][entered], rtol=0, atol=0
    )
    assert result.agents_equity == pytest.approx(float(one.equity[len(panel.timestamps) - 1]))
    # Each tick writes only what it changed: the book ends as one whole write of the run.
    from tradewind.trading.scan import paper_orders
    from tradewind.trading.session_report import session_tables

    want, want_tracked, want_ledger = session_tables(one)
    for col in ("status", "exit_reason", "exit_price", "pnl", "qty", "stop"):
        a, b = mine[col].to_numpy(), want[col].to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b.astype(float), err_msg=col)
        else:
            assert list(a) == list(b), col
    assert (saved["kind"] == "tracked").sum() == len(want_tracked)
    with TradeBook(settings.book_url) as book:
        ledger = book.table("ledger", run_id=result.agents_run_id)
        orders = book.orders(run_id=result.agents_run_id)
    assert len(ledger) == len(want_ledger)
    assert ledger["amount"].sum() == pytest.approx(want_ledger["amount"].sum())
    # the book fills in the run each paper order id carries
    assert sorted(orders["client_order_id"]) == sorted(
        c.replace("{run}", str(result.agents_run_id))
        for c in paper_orders(want, settings.live.name + "-agents")["client_order_id"]
    )
    with TradeBook(settings.book_url) as book:
        archived = book.state_chunks(settings.live.name + "-agents")
    assert bool(archived) == (bars == "4h")


def test_the_watchdog_reports_a_pair_whose_candles_stop_and_it_is_not_traded(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    market = generate_market(pairs=6, timeframe="1h", days=40, seed=5)
    quiet = next(iter(market.frames))
    frame = market.frames[quiet]
    gap = (frame["timestamp"] >= "2024-01-10") & (frame["timestamp"] < "2024-01-20")
    market.frames[quiet] = frame[~gap].reset_index(drop=True)
    write_market(market, CandleStore(home / "data", "synthetic"))
    settings = load_config(environ=ENV)
    seen: list[dict[str, str]] = []
    with caplog.at_level("WARNING", logger="tradewind.live.node"):
        result = replay(
            settings,
            START,
            pd.Timestamp("2024-01-25", tz="UTC"),
            on_tick=lambda t: seen.append(t.stale),
        )
    # Stale from the third missing candle (09 Jan 23:00 was its last) until it is back.
    assert result.stale == {quiet: "2024-01-10T03:00:10+00:00"}
    assert any(quiet in s for s in seen)
    assert not seen[-1]  # back by the end
    assert any("stale candles for " + quiet in r.getMessage() for r in caplog.records)
    trades = _book_trades(settings, result.run_id)
    mine = trades[(trades["pair"] == quiet) & trades["entry_at"].notna()]
    inside = (mine["entry_at"] >= "2024-01-10") & (mine["entry_at"] < "2024-01-20")
    assert not inside.any()  # nothing filled on a pair without candles


def test_a_circuit_breaker_stops_new_entries_and_a_restart_stays_safe(
    market: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {**ENV, "TRADEWIND__LIVE__MAX_DRAWDOWN": "0.01"}
    settings = load_config(environ=env)
    end = pd.Timestamp("2024-02-10", tz="UTC")
    ticks: list[object] = []
    with caplog.at_level("ERROR", logger="tradewind.live.node"):
        first = replay(settings, START, pd.Timestamp("2024-01-25", tz="UTC"), on_tick=ticks.append)
    assert first.safe is not None
    assert "reached live.max_drawdown 1.0%" in first.safe
    assert any("SAFE MODE" in r.getMessage() for r in caplog.records)
    tripped = next(t.last_candle for t in ticks if t.safe)  # type: ignore[attr-defined]
    again = replay(settings, START, end)  # a restart: still safe, still no entries
    assert again.safe == first.safe
    assert again.decided == []
    trades = _book_trades(settings, again.run_id)
    entered = pd.to_datetime(trades["entry_at"].dropna(), utc=True)
    # Nothing nominated after the breaker tripped, nothing entered after its next candle
    # (a nomination waiting for its breakout expired there), nothing left waiting.
    assert (pd.to_datetime(trades["nominated_at"], utc=True) <= tripped).all()
    assert (entered <= tripped + pd.Timedelta("1h")).all()
    assert (trades["status"] != "pending").all()
    free = load_config(environ={**ENV, "TRADEWIND__LIVE__NAME": "free"})
    assert len(_book_trades(free, replay(free, START, end).run_id)) > len(trades)


def test_safe_mode_halts_the_agents_too_and_a_restart_keeps_them_halted(home: Path) -> None:
    """Safe mode is the node's: once a breaker trips, no agent opens a real trade either
    (its setups are simulated with the reason ``safe_mode``), while its open trades keep
    their exits; a restarted node halts them again."""
    from tests.unit.trading.test_scan import CONFIG, T0

    write_market(
        generate_market(pairs=5, timeframe="1h", days=20, seed=8),
        CandleStore(home / "data", "synthetic"),
    )
    (home / "tradewind.toml").write_text(
        CONFIG + '\n[cycle]\nnominator = "momentum"\n[live]\nhistory = "8d"\nmax_drawdown = 0.003\n'
    )
    settings = load_config(home / "tradewind.toml", environ={})
    start = T0 + pd.Timedelta(days=8)
    ticks: list[object] = []
    first = replay(settings, start, start + pd.Timedelta(days=5), on_tick=ticks.append)
    assert first.safe is not None
    tripped = next(t.last_candle for t in ticks if t.safe)  # type: ignore[attr-defined]
    result = replay(settings, start, start + pd.Timedelta(days=11))
    assert result.safe == first.safe
    trades = _book_trades(settings, result.agents_run_id)
    made = pd.to_datetime(trades["nominated_at"], utc=True)
    after = trades[made > tripped]
    before = trades[made <= tripped]
    assert (before["kind"] == "real").any()
    assert len(after) >= 3
    assert (after["kind"] != "real").all()
    assert set(after.loc[after["kind"] == "sim", "sim_reason"]) == {"safe_mode"}
    # Setups after the restart too (the halt is not in the saved state: it is set again).
    assert (made > start + pd.Timedelta(days=5)).sum() >= 1
    # Real trades open when it tripped still closed on their own exits.
    held = before[(before["kind"] == "real") & (before["status"] == "closed")]
    assert (pd.to_datetime(held["exit_at"], utc=True) > tripped).any()
