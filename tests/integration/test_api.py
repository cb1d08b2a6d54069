"""The status API and dashboard of a running replay node, over HTTP on 127.0.0.1.

One node runs for the whole module on a thread, as ``tradewind run --replay --speed``
runs it: first a flat-out stretch (so the book holds trades, cycles and mode switches),
then a slow one that keeps ticking while the tests ask. Its notifications go to a local
receiver. The tests check every endpoint, the token, read-only enforcement, pagination,
that no secret is ever served, the numbers against the trade book, and the dashboard in
headless Chromium.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.browser import browser_page, keep_screenshot
from tests.unit.backtest.test_run import SMALL
from tradewind.config import Settings, load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.live.node import Tick
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook

pytestmark = pytest.mark.slow

START = pd.Timestamp("2024-01-06", tz="UTC")
MID = pd.Timestamp("2024-01-28", tz="UTC")
END = pd.Timestamp("2024-02-09", tz="UTC")
#: 1h candles at this many times real time: four ticks a second (a minute of ticks; at the
#: last one the node holds, still serving, until the module is done)
SPEED = 3600 * 4

AGENTS = """
[[agents]]
name = "cr-long"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = {lookback = 48}

[[agents]]
name = "tf-short"
strategy = "trail_fractals"
side = "short"
timeframe = "4h"
"""

#: Secrets the node knows; none may appear in anything the server sends.
SECRETS = {
    "TRADEWIND__EXCHANGE__API_KEY": "key-secret-a1b2c3d4",
    "TRADEWIND__EXCHANGE__API_SECRET": "secret-secret-e5f6a7b8",
    "TRADEWIND__NOTIFY__TELEGRAM_TOKEN": "123456:tg-secret-c9d0e1f2",
    "TRADEWIND__NOTIFY__TELEGRAM_CHAT_ID": "chat-secret-778899",
}
HOOK_SECRET = "hook-secret-0a1b2c3d"


class Receiver(BaseHTTPRequestHandler):
    """Records every POST (a webhook and Telegram's sendMessage)."""

    got: list[tuple[str, dict[str, Any]]]
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.delay:
            time.sleep(self.delay)
        self.got.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *_args: Any) -> None:
        pass


def receiver(delay: float = 0.0) -> tuple[ThreadingHTTPServer, list[tuple[str, dict[str, Any]]]]:
    got: list[tuple[str, dict[str, Any]]] = []
    handler = type("R", (Receiver,), {"got": got, "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


class _Stop(Exception):
    pass


@dataclass
class Node:
    settings: Settings
    url: str
    token: str
    got: list[tuple[str, dict[str, Any]]]
    thread: threading.Thread
    stop_flag: threading.Event
    ticks: list[Tick] = field(default_factory=list)
    error: list[BaseException] = field(default_factory=list)

    def get(self, path: str, token: str | None = "", **params: Any) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(self.url + path.lstrip("/"), headers=headers, params=params, timeout=30)

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        assert self.error == [], self.error


def node_settings(home: Path, hook: str, **extra: str) -> Settings:
    config = home.parent / "agents.toml"
    config.write_text(AGENTS, encoding="utf-8")
    env = {
        **SMALL,
        **SECRETS,
        "TRADEWIND__HOME": str(home),
        "TRADEWIND__CYCLE__NOMINATOR": "momentum",
        "TRADEWIND__LIVE__HISTORY": "5d",
        "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",
        "TRADEWIND__API__PORT": "0",
        "TRADEWIND__API__CONTROL": "true",
        "TRADEWIND__API__REFRESH_S": "0.5",
        "TRADEWIND__NOTIFY__WEBHOOK_URL": hook,
        **extra,
    }
    return load_config(config, environ=env)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    from tradewind.api.server import serve_node
    from tradewind.api.token import ensure_token, read_token

    home = tmp_path_factory.mktemp("api") / ".tradewind"
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    server, got = receiver()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = node_settings(
        home, f"{base}/hook/{HOOK_SECRET}", TRADEWIND__NOTIFY__TELEGRAM_API=f"{base}/tg"
    )
    token = read_token(ensure_token(settings)[0])
    replay(settings, START, MID)  # flat out: a book with history
    ready = threading.Event()
    box: dict[str, Any] = {}
    stop = threading.Event()

    def on_open(n: Any) -> Any:
        box["server"] = serve_node(settings, n)
        ready.set()
        return box["server"]

    ticks: list[Tick] = []

    def on_tick(tick: Tick) -> None:
        ticks.append(tick)
        if tick.at >= END:
            stop.wait()  # the last tick: the node holds here, its server still up
        if stop.is_set():
            raise _Stop

    errors: list[BaseException] = []

    def run() -> None:
        try:
            replay(settings, MID, END, speed=SPEED, on_open=on_open, on_tick=on_tick)
        except _Stop:
            pass
        except BaseException as exc:  # the test says what it was
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the node did not start"
    assert errors == [], errors
    n = Node(settings, box["server"].url, token, got, thread, stop, ticks, errors)
    while not ticks:  # one tick of the slow stretch has published its snapshot
        time.sleep(0.05)
    yield n
    if thread.is_alive():
        n.stop()
    server.shutdown()
    server.server_close()


GETS = [
    "/api/status",
    "/api/runs",
    "/api/budget",
    "/api/equity",
    "/api/trades/open",
    "/api/trades/closed",
    "/api/cycles",
    "/api/modes",
    "/api/orders",
    "/api/models",
    "/api/logs",
]


def test_every_endpoint_answers_with_the_token_and_only_with_it(node: Node) -> None:
    health = node.get("/health", token=None)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    for path in GETS:
        assert node.get(path).status_code == 200, path
        missing = node.get(path, token=None)
        assert missing.status_code == 401, path
        assert "missing token" in missing.json()["detail"]
        wrong = node.get(path, token="not-the-token-" + "x" * 30)
        assert wrong.status_code == 401, path
        assert wrong.json()["detail"] == "wrong token", path
    # The token goes in the header only: a query parameter is not a way in.
    assert httpx.get(node.url + "api/status", params={"token": node.token}).status_code == 401


def wait_until(page: Any, predicate: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (a JavaScript function) from Python: the dashboard's Content
    Security Policy forbids eval, which Playwright's own wait_for_function needs."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.1)


def test_the_dashboard_shows_the_nodes_numbers_and_updates_live(node: Node) -> None:
    with browser_page(1400, 1000) as (page, errors):
        page.goto(node.url)
        page.fill("#token", "wrong-token-" + "y" * 30)
        page.click("button[type=submit]")
        wait_until(page, "() => document.getElementById('login-error').textContent.length > 0")
        assert "refused" in page.text_content("#login-error")
        # the one refused request was logged by the browser (its console message may come
        # after the page has shown the refusal); from here on nothing may be
        deadline = time.monotonic() + 10
        while not errors and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(errors) == 1
        assert "401" in errors[0]
        errors.clear()
        page.fill("#token", node.token)
        page.click("button[type=submit]")
        wait_until(page, "() => Number(document.getElementById('updated').dataset.polls || 0) >= 1")
        ticks0 = int(page.get_attribute("#clock", "data-ticks"))
        wait_until(
            page,
            f"() => Number(document.getElementById('clock').dataset.ticks || 0) > {ticks0} && "
            "Number(document.getElementById('updated').dataset.polls) >= 3",
        )
        keep_screenshot(page, "dashboard")
        # what the page shows is what the API says at the same moment (within a tick)
        api = node.get("/api/status").json()
        shown = float(page.get_attribute("#equity", "data-value"))
        assert shown == pytest.approx(api["equity"], rel=0.05)
        # the chart and the figure come from two requests of one poll, which a tick may
        # fall between under load: equal within a tick, not to the cent
        chart_last = float(page.get_attribute("#equity-chart", "data-last"))
        assert chart_last == pytest.approx(shown, rel=0.05)
        drawn = page.evaluate(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => "
            "[d.id, d.data.length, d.querySelectorAll('.scatterlayer path').length])"
        )
        assert {d[0] for d in drawn} == {"equity-chart", "pools-chart"}
        assert all(d[1] > 0 and d[2] > 0 for d in drawn), drawn
        agents = page.eval_on_selector_all(
            "#agents tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
        )
        assert sorted(agents) == ["cr-long", "tf-short"]
        total = int(page.get_attribute("#closed-count", "data-value"))
        assert abs(total - node.get("/api/trades/closed").json()["total"]) <= 5
        assert page.eval_on_selector_all("#closed-trades tbody tr", "r => r.length") == 25
        assert page.eval_on_selector_all("#cycles tbody tr", "r => r.length") > 0
        pools = page.eval_on_selector_all(
            "#pools tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
        )
        assert "main" in pools
        page.click("#next")
        wait_until(page, "() => document.getElementById('page').textContent.startsWith('26')")
        keep_screenshot(page, "dashboard-page2")
        assert errors == []


def test_the_server_listens_on_loopback_and_refuses_other_host_names(node: Node) -> None:
    assert node.url.startswith("http://127.0.0.1:")
    info = json.loads((node.settings.home / "api-node.json").read_text())
    assert info["url"] == node.url
    assert node.token not in json.dumps(info)
    rebound = httpx.get(
        node.url + "api/status",
        headers={"Authorization": f"Bearer {node.token}", "Host": "evil.example"},
    )
    assert rebound.status_code == 400  # DNS rebinding: a foreign Host is refused
    # no CORS unless origins are named
    pre = httpx.options(
        node.url + "api/status",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in {k.lower() for k in pre.headers}


def test_the_page_is_never_cached_and_its_files_are_for_a_day(node: Node) -> None:
    import re

    page = httpx.get(node.url)
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert len(urls) == 3
    versions = {u.split("?v=")[1] for u in urls}
    assert len(versions) == 1
    assert len(versions.pop()) == 12
    for url in urls:
        r = httpx.get(node.url + url.lstrip("/"))
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "public, max-age=86400"
    plotly = httpx.get(node.url + "static/plotly.min.js")
    assert len(plotly.content) > 1_000_000
    assert plotly.content.startswith(b"/**")
    assert httpx.get(node.url + "static/../token").status_code == 404


def test_the_status_is_the_running_nodes(node: Node) -> None:
    first = node.get("/api/status").json()
    time.sleep(1.0)
    s = node.get("/api/status").json()
    assert s["served_by"] == "node"
    assert s["node"] == "node"
    assert s["mode"] == "replay"
    assert s["control"] is True
    assert s["safe_mode"] is None
    assert s["paused"] is False
    # it is live: the node ticked between the two reads, and the clock moved
    assert s["last_tick"]["ticks"] > first["last_tick"]["ticks"]
    assert s["clock"] > first["clock"]
    assert pd.Timestamp(s["freshness"]["last_candle"]) > pd.Timestamp(MID)
    assert s["freshness"]["stale"] == {}
    assert s["trader_mode"] in ("live", "dry_run")
    assert s["cycle"]["cycle_no"] >= 1
    assert {a["name"] for a in s["agents"]} == {"cr-long", "tf-short"}
    assert s["runs"]["cycle"] is not None
    assert s["runs"]["agents"] is not None
    with TradeBook(node.settings.book_url) as book:
        trades = book.trades(run_id=s["runs"]["agents"], kind="real")
    for a in s["agents"]:
        mine = trades[trades["agent"] == a["name"]]
        closed = mine[mine["status"] == "closed"]
        # the node may have ticked in between: the book read after the API is never behind
        assert a["closed"] <= len(closed)
        assert a["closed"] >= len(closed) - 5


def test_equity_and_budget_match_the_trade_book(node: Node) -> None:
    eq = node.get("/api/equity", points=20_000).json()
    with TradeBook(node.settings.book_url) as book:
        stored = book.equity(eq["run_id"])
        summary = json.loads(book.runs().set_index("id").loc[eq["run_id"], "summary"])
    from tradewind.api.schemas import EquityOut

    EquityOut.model_validate(eq)  # sent without FastAPI's check: the schema holds anyway
    curve = eq["curve"]
    n = len(curve["equity"])
    assert {len(v) for v in curve.values()} == {n}  # columns of one length
    assert n <= len(stored)
    assert n > 24 * 20  # every candle since the start, not a sample
    assert curve["equity"][:100] == stored["equity"].head(100).tolist()
    assert [pd.Timestamp(t) for t in curve["at"][:100]] == stored["at"].head(100).tolist()
    peak = pd.Series(curve["equity"]).cummax()
    want = (pd.Series(curve["equity"]) / peak - 1).tolist()
    assert curve["drawdown"] == pytest.approx(want)
    assert min(curve["drawdown"]) < 0
    assert len(eq["agents"]["equity"]) > 24 * 20
    thin = node.get("/api/equity", points=50).json()["curve"]
    assert len(thin["equity"]) <= 50
    # thinning keeps the deepest drawdown of the curve (the node may have ticked since)
    assert min(thin["drawdown"]) <= min(curve["drawdown"]) + 1e-12
    budget = node.get("/api/budget", points=20_000).json()
    assert budget["history"][0]["main"] == summary["capital"]
    # the ledger's last balances are the pools the node saved with the same tick
    assert budget["run_id"] == eq["run_id"]
    assert set(budget["now"]) == {
        "main",
        "pre_trade",
        "active",
        "divestment",
        "held_for_reinvestment",
    }


def test_a_stopped_nodes_book_gives_the_same_budget_history_as_its_summary(node: Node) -> None:
    """Served read-only after the fact, the pools rebuilt from the ledger end exactly on
    the pools the node saved."""
    from tradewind.api.view import BookView

    view = BookView(node.settings.book_url, name="node")
    try:
        for _ in range(50):
            runs = view.runs()
            summary = view.summary(runs.cycle)
            budget = view.budget(runs, 10**9)
            if view.summary(runs.cycle) == summary:  # no tick in between
                break
        else:
            pytest.fail("the node never left the book alone for one read")
        last = budget["history"][-1]
        for pool, value in summary["pools"].items():
            assert last[pool] == pytest.approx(value, abs=1e-6), pool
    finally:
        view.close()


def test_open_trades_carry_their_distance_to_stop_and_target(node: Node) -> None:
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = [t for t in node.get("/api/trades/open").json() if t["status"] == "active"]
        if rows:
            break
        time.sleep(0.3)
    assert rows, "no open trade during the slow stretch"
    prices = node.get("/api/status").json()
    assert prices["served_by"] == "node"
    for t in rows:
        assert t["kind"] == "real"
        side = 1 if t["side"] == "long" else -1
        assert t["price"] is not None
        assert t["price"] > 0
        if t["stop"] is not None:
            assert t["stop_distance"] == pytest.approx(side * (t["price"] - t["stop"]) / t["price"])
            assert t["stop_distance"] > -0.5
        if t["target"] is not None:
            want = side * (t["target"] - t["price"]) / t["price"]
            assert t["target_distance"] == pytest.approx(want)
        assert t["unrealised_pnl"] == pytest.approx(
            side * (t["price"] - t["entry_price"]) * t["qty"]
        )
    cycle = [t for t in rows if t["agent"] == "cycle"]
    for t in cycle:  # the cycle trader's open trades show their (trailing) stop and target
        assert t["stop"] is not None
        assert t["target"] is not None
    sims = node.get("/api/trades/open", kind="sim").json()
    assert all(t["kind"] == "sim" for t in sims)


def test_closed_trades_page_through_every_trade_once(node: Node) -> None:
    first = node.get("/api/trades/closed", limit=1).json()
    total = first["total"]
    assert total > 40
    seen: list[int] = []
    offset = 0
    # pages of 7 from a book that may grow at the head: ids are unique across pages as
    # long as nothing closes in between, so read a frozen view
    from tradewind.api.view import BookView

    view = BookView(node.settings.book_url, run_id=None, name="node")
    try:
        runs = view.runs().all
        n, _ = view.closed_trades(
            runs, agent=None, pair=None, kind=None, status="closed", limit=1, offset=0
        )
        while offset < n:
            _, page = view.closed_trades(
                runs, agent=None, pair=None, kind=None, status="closed", limit=7, offset=offset
            )
            seen += [t["id"] for t in page]
            offset += 7
    finally:
        view.close()
    assert len(seen) == len(set(seen)) == n
    page = node.get("/api/trades/closed", limit=5, offset=5).json()
    assert page["limit"] == 5
    assert page["offset"] == 5
    assert len(page["items"]) == 5
    exits = [t["exit_at"] for t in node.get("/api/trades/closed", limit=50).json()["items"]]
    assert exits == sorted(exits, reverse=True)  # newest first
    for agent in ("cr-long", "tf-short", "cycle"):
        items = node.get("/api/trades/closed", agent=agent, limit=500).json()["items"]
        assert items
        assert {t["agent"] for t in items} == {agent}
    sims = node.get("/api/trades/closed", kind="sim", limit=500).json()
    assert sims["total"] > 0
    assert {t["kind"] for t in sims["items"]} == {"sim"}
    pair = sims["items"][0]["pair"]
    by_pair = node.get("/api/trades/closed", pair=pair, limit=500).json()
    assert {t["pair"] for t in by_pair["items"]} == {pair}
    assert node.get("/api/trades/closed", limit=501).status_code == 422
    assert node.get("/api/trades/closed", offset=-1).status_code == 422
    assert node.get("/api/trades/closed", kind="bogus").status_code == 422


def test_cycles_modes_orders_models_and_logs(node: Node) -> None:
    cycles = node.get("/api/cycles").json()
    assert cycles
    assert cycles[0]["cycle_no"] == max(c["cycle_no"] for c in cycles)
    modes = node.get("/api/modes").json()
    assert any(m["agent"] is None for m in modes)  # the cycle trader's switches
    assert {m["to_mode"] for m in modes} <= {"live", "dry_run"}
    orders = node.get("/api/orders", limit=10).json()
    assert len(orders) == 10
    assert all(o["client_order_id"].startswith("tw-") for o in orders)
    models = node.get("/api/models").json()
    assert models["nominator"].startswith("nominator: momentum")
    assert models["promoted"] == []  # this node trains nothing
    logs = node.get("/api/logs").json()
    assert any("status server and dashboard at" in x["message"] for x in logs)


def test_read_only_the_api_and_its_connections(node: Node) -> None:
    """No route writes: the GET routes refuse other methods, and the server's own
    database connections refuse writes even if a route tried."""
    for path in GETS:
        r = httpx.post(
            node.url + path.lstrip("/"), headers={"Authorization": f"Bearer {node.token}"}
        )
        assert r.status_code == 405, path
        r = httpx.delete(
            node.url + path.lstrip("/"), headers={"Authorization": f"Bearer {node.token}"}
        )
        assert r.status_code == 405, path
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from tradewind.api.view import BookView

    view = BookView(node.settings.book_url, name="node")
    try:
        with pytest.raises(OperationalError, match="readonly|read-only|query_only"):
            with view.engine.begin() as conn:
                conn.execute(text("DELETE FROM trades"))
    finally:
        view.close()


def test_no_secret_in_any_response(node: Node) -> None:
    bodies = [node.get(p).text for p in GETS]
    bodies += [node.get("/api/trades/closed", limit=500, offset=k).text for k in (0, 500)]
    bodies += [httpx.get(node.url + p).text for p in ("", "openapi.json", "health")]
    assert httpx.get(node.url + "docs").status_code == 404  # its pages would need a CDN
    bodies += [httpx.get(node.url + "static/dashboard.js").text]
    text = "\n".join(bodies)
    for secret in [*SECRETS.values(), HOOK_SECRET, node.token]:
        assert secret not in text
    assert "api_key" not in text
    assert "api_secret" not in text


def test_control_pause_and_resume(node: Node) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    assert httpx.post(node.url + "api/control/pause").status_code == 401
    r = httpx.post(node.url + "api/control/pause", headers=auth)
    assert r.status_code == 200
    assert r.json()["ok"] is True
    s = node.get("/api/status").json()
    assert s["paused"] is True
    assert s["safe_mode"].startswith("paused from the API")
    with TradeBook(node.settings.book_url) as book:
        saved = json.loads(book.runs().set_index("id").loc[s["runs"]["cycle"], "summary"])
    assert saved["safe_mode"].startswith("paused")  # saved at once: a restart stays paused
    again = httpx.post(node.url + "api/control/pause", headers=auth).json()
    assert again["ok"] is False
    logs = node.get("/api/logs", level="warning").json()
    assert any("API control: pause" in x["message"] for x in logs)
    r = httpx.post(node.url + "api/control/resume", headers=auth)
    assert r.status_code == 200
    assert r.json()["detail"] == "resumed"
    s = node.get("/api/status").json()
    assert s["paused"] is False
    assert s["safe_mode"] is None


def test_control_closes_a_trade_and_switches_an_agent(node: Node) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    deadline = time.monotonic() + 30
    active: list[dict[str, Any]] = []
    while not active and time.monotonic() < deadline:
        active = [t for t in node.get("/api/trades/open").json() if t["status"] == "active"]
        time.sleep(0.2)
    assert active, "no trade in a position to close"
    target = active[0]["id"]
    r = httpx.post(node.url + f"api/control/trades/{target}/close", headers=auth)
    assert r.status_code == 200, r.text
    with TradeBook(node.settings.book_url) as book:
        row = book.trade(target)
        deadline = time.monotonic() + 30
        while row["status"] != "closed" and time.monotonic() < deadline:
            time.sleep(0.2)
            row = book.trade(target)
    assert row["status"] == "closed"
    assert row["exit_reason"] == "manual"
    again = httpx.post(node.url + f"api/control/trades/{target}/close", headers=auth)
    assert again.status_code == 409
    assert "not open" in again.json()["detail"]
    missing = httpx.post(node.url + "api/control/trades/999999/close", headers=auth)
    assert missing.status_code == 404
    url = node.url + "api/control/agents/cr-long/mode"
    r = httpx.post(url, headers=auth, json={"mode": "dry_run"})
    assert r.status_code == 200, r.text
    agents = {a["name"]: a for a in node.get("/api/status").json()["agents"]}
    assert agents["cr-long"]["mode"] == "dry_run"
    assert agents["tf-short"]["mode"] == "live"
    assert httpx.post(url, headers=auth, json={"mode": "dry_run"}).status_code == 409
    assert httpx.post(url, headers=auth, json={"mode": "paper"}).status_code == 422
    nobody = node.url + "api/control/agents/nobody/mode"
    assert httpx.post(nobody, headers=auth, json={"mode": "live"}).status_code == 404
    modes = node.get("/api/modes").json()
    assert modes[0]["agent"] == "cr-long"
    assert modes[0]["reason"] == "switched from the API"
    assert httpx.post(url, headers=auth, json={"mode": "live"}).status_code == 200
    logs = [x["message"] for x in node.get("/api/logs", level="warning").json()]
    assert any(f"API control: close trade {target}" in m for m in logs)
    assert any("API control: agent cr-long to dry_run" in m for m in logs)


def test_control_is_off_by_default_and_absent_without_a_node(node: Node) -> None:
    from tradewind.api.server import serve_book

    off = node.settings.model_copy(
        update={"api": node.settings.api.model_copy(update={"control": False})}
    )
    server = serve_book(off, off.book_url, name="node", run_id=None)
    try:
        auth = {"Authorization": f"Bearer {node.token}"}
        r = httpx.post(server.url + "api/control/pause", headers=auth)
        assert r.status_code == 403
        assert "api.control" in r.json()["detail"]
        s = httpx.get(server.url + "api/status", headers=auth).json()
        assert s["served_by"] == "book"
        assert s["control"] is False
    finally:
        server.stop()
    server = serve_book(node.settings, node.settings.book_url, name="node", run_id=None)
    try:
        r = httpx.post(server.url + "api/control/pause", headers=auth)
        assert r.status_code == 409
        assert "read-only" in r.json()["detail"]
    finally:
        server.stop()


def test_schema_is_published_and_no_request_makes_a_500(node: Node) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    spec = httpx.get(node.url + "openapi.json").json()
    assert set(GETS) <= set(spec["paths"])
    assert "/health" in spec["paths"]
    for path in GETS:
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert "schema" in ok, path  # typed responses
    schema = schemathesis.openapi.from_url(node.url + "openapi.json")
    auth = {"Authorization": f"Bearer {node.token}"}
    failures: list[str] = []

    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.path.startswith("/api/control"):
            continue  # they change the node: tested above

        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: 500")
            case.validate_response(response, checks=[not_a_server_error])

        check()
    assert failures == []


def test_every_real_trade_was_notified_on_the_webhook_and_telegram(node: Node) -> None:
    node.stop()  # the node closes: its notifier delivers what is queued
    hooks = [body for path, body in node.got if path == f"/hook/{HOOK_SECRET}"]
    tg_path = f"/tg/bot{SECRETS['TRADEWIND__NOTIFY__TELEGRAM_TOKEN']}/sendMessage"
    telegram = [body for path, body in node.got if path == tg_path]
    assert len(hooks) == len(telegram) > 0
    assert {t["chat_id"] for t in telegram} == {SECRETS["TRADEWIND__NOTIFY__TELEGRAM_CHAT_ID"]}
    with TradeBook(node.settings.book_url) as book:
        trades = book.trades(kind="real")
        switches = book.table("mode_changes")
    entered = trades[trades["entry_at"].notna()]
    opened = {
        (e["data"]["by"], e["data"]["pair"], e["data"]["trade"])
        for e in hooks
        if e["event"] == "trade_open"
    }
    book_opened = {
        ("cycle trader" if pd.isna(a) else a, p, int(n))
        for a, p, n in zip(entered["agent"], entered["pair"], entered["trade_no"], strict=True)
    }
    assert opened == book_opened
    closed = [e for e in hooks if e["event"] == "trade_close"]
    book_closed = trades[trades["status"] == "closed"]
    assert len(closed) == len(book_closed)
    pnl = {(e["data"]["by"], e["data"]["trade"]): e["data"]["pnl"] for e in closed}
    for a, n, v in zip(
        book_closed["agent"], book_closed["trade_no"], book_closed["pnl"], strict=True
    ):
        assert pnl[("cycle trader" if pd.isna(a) else a, int(n))] == pytest.approx(v)
    notified_switches = [e for e in hooks if e["event"] == "mode_switch"]
    assert len(notified_switches) == len(switches)
    assert all(e["node"] in ("node", "node-agents") for e in hooks)
