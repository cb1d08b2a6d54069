"""The status API and the dashboard: one FastAPI app over a :class:`~.view.BookView`, and
beside a running node a :class:`~.link.NodeLink` for what only the node knows (its clock,
the last prices, the freshness watchdog) and for the control endpoints.

Secure by default (anchors §3, "insecure defaults"): every ``/api`` route needs the token
(``Authorization: Bearer …``); ``/health`` and the dashboard's static files (no data in
them) do not. Control routes exist only with ``api.control = true`` and are logged. No
CORS unless origins are named. Served on a loopback address, requests for any other host
name are refused (a web page cannot reach the server through DNS rebinding).
"""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations at
# run time, and a dependency defined inside create_app would not resolve from a string.

import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from tradewind import __version__
from tradewind.api.link import NodeLink
from tradewind.api.logs import LogBuffer
from tradewind.api.schemas import (
    AgentModeIn,
    BudgetOut,
    CycleRow,
    EquityOut,
    Health,
    LogLine,
    ModeChangeRow,
    ModelsOut,
    OkOut,
    OrderRow,
    RunRow,
    StatusOut,
    TradeOut,
    TradePage,
)
from tradewind.api.token import same_token
from tradewind.api.view import BookView, Prices
from tradewind.config import Settings
from tradewind.domain.types import Timeframe
from tradewind.errors import StateError

__all__ = ["create_app", "is_loopback"]

log = logging.getLogger(__name__)
STATIC = files("tradewind.api") / "static"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def store_prices(settings: Settings) -> Prices:
    """Last closes from the candle store (a server without a node). A pair's file is read
    again only when it changed: the dashboard asks every few seconds."""
    from tradewind.data.store import CandleStore

    store = CandleStore(settings.data_dir, settings.data.exchange)
    tf = Timeframe.parse(settings.data.timeframe)
    seen: dict[str, tuple[int, tuple[float, datetime | None] | None]] = {}

    def prices(pairs: list[str]) -> dict[str, tuple[float, datetime | None]]:
        out: dict[str, tuple[float, datetime | None]] = {}
        for pair in pairs:
            if not store.exists(pair, tf):  # no candles for it here: no price, not an error
                continue
            mtime = store.path(pair, tf).stat().st_mtime_ns
            cached = seen.get(pair)
            if cached is None or cached[0] != mtime:
                frame = store.read_raw(pair, tf)
                last = None
                if len(frame):
                    row = frame.iloc[-1]
                    last = (float(row["close"]), row["timestamp"].to_pydatetime())
                seen[pair] = cached = (mtime, last)
            if cached[1] is not None:
                out[pair] = cached[1]
        return out

    return prices


def _assets_version() -> str:
    import hashlib

    import plotly

    digest = hashlib.blake2b(plotly.__version__.encode(), digest_size=6)
    for name in ("dashboard.js", "dashboard.css"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()


def create_app(
    settings: Settings,
    view: BookView,
    token: str,
    *,
    link: NodeLink | None = None,
    logs: LogBuffer | None = None,
    prices: Prices | None = None,
) -> FastAPI:
    """The app for one view. ``link``: the running node (None: ``tradewind serve``)."""
    api = settings.api
    started = time.monotonic()
    assets = _assets_version()
    app = FastAPI(
        title="Tradewind status API",
        version=__version__,
        description="A node's status, budget, trades, equity, cycles and models. Every "
        "`/api` route needs `Authorization: Bearer <token>` (the file `<home>/api-token`).",
        # FastAPI's /docs pages load their scripts from a CDN: nothing here may need the
        # internet, so the schema is served (/openapi.json) and the pages are not.
        docs_url=None,
        redoc_url=None,
    )
    if is_loopback(api.host):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES))
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization"],
        )

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path.startswith("/api"):
            response.headers["Cache-Control"] = "no-store"
        return response

    bearer = HTTPBearer(auto_error=False, description="The token in <home>/api-token.")

    def authorised(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if creds is None:
            raise HTTPException(
                401,
                "missing token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not same_token(creds.credentials, token):
            raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})

    Auth = Depends(authorised)
    price_of = link.prices if link is not None else (prices or store_prices(settings))

    @app.exception_handler(StateError)
    async def state_error(_request: Request, exc: StateError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    # -- open ----------------------------------------------------------------------------

    @app.get("/health", response_model=Health, tags=["open"])
    def health() -> Health:
        """Liveness; no token needed, nothing about the node in it."""
        return Health(version=__version__)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(
            html.replace("{{refresh_ms}}", str(int(api.refresh_s * 1000))).replace(
                "{{version}}", assets
            ),
            headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'",
                "Cache-Control": "no-store",
            },
        )

    #: the page asks for ``?v=<hash of the files>``: a browser keeps them a day, and a
    #: page of changed files (or another plotly) asks for the new ones
    kept = {"Cache-Control": "public, max-age=86400"}
    plotly_js: list[bytes] = []  # read once (4.6 MB), on the first page that asks

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            if not plotly_js:
                # plotly's own bundle, installed with the plotly package from PyPI
                from plotly.offline import get_plotlyjs

                plotly_js.append(get_plotlyjs().encode())
            return Response(plotly_js[0], media_type="text/javascript", headers=kept)
        if name not in ("dashboard.js", "dashboard.css"):
            raise HTTPException(404, f"no static file {name!r}")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(str(STATIC / name), media_type=kind, headers=kept)

    # -- status --------------------------------------------------------------------------

    @app.get("/api/status", response_model=StatusOut, tags=["status"], dependencies=[Auth])
    def status() -> dict[str, Any]:
        """Mode, clock, safe mode, the current cycle, the agents and their modes, the data's
        freshness: the node's own figures when it runs here, the book's otherwise."""
        runs = view.runs()
        summary = view.summary(runs.cycle)
        agents_summary = view.summary(runs.agents)
        live = link.status() if link is not None else None
        cycles = view.cycles(runs.cycle, 1)
        cycle = cycles[0] if cycles else None
        modes = view.mode_changes([runs.agents] if runs.agents else [], 10_000)
        agent_mode: dict[str, str] = {}
        for m in reversed(modes):  # oldest first: the last one wins
            if m["agent"]:
                agent_mode[m["agent"]] = m["to_mode"]
        stats = view.agent_stats(runs.agents)
        configured = {a.name: a for a in settings.agents}
        agents = []
        for name in sorted(set(stats) | (set(configured) if runs.agents else set())):
            a = configured.get(name)
            s = stats.get(name, {"open": 0, "closed": 0, "pnl": 0.0})
            agents.append(
                {
                    "name": name,
                    "strategy": a.strategy if a else None,
                    "side": a.side if a else None,
                    "timeframe": a.timeframe if a else None,
                    "mode": agent_mode.get(name, "live"),
                    **s,
                }
            )
        now = datetime.now(UTC)
        clock_text = summary.get("clock") or agents_summary.get("clock")
        book_clock = datetime.fromisoformat(clock_text) if clock_text else None
        if book_clock is None:  # a backtest: its last candle
            book_clock = view.last_at(runs.cycle if runs.cycle is not None else runs.agents)
        book_equity = summary.get("equity")
        if book_equity is None:  # a backtest's summary has its metrics instead
            book_equity = (summary.get("metrics") or agents_summary.get("metrics") or {}).get(
                "final_equity", agents_summary.get("equity")
            )
        tf = Timeframe.parse(summary.get("data", {}).get("timeframe") or settings.data.timeframe)
        last_candle = live["last_candle"] if live else book_clock
        clock = live["clock"] if live else book_clock
        age = None
        if last_candle is not None and clock is not None:
            age = max(0.0, (clock - last_candle).total_seconds() - tf.nanoseconds / 1e9)
        safe = live["safe"] if live else summary.get("safe_mode")
        mode = summary.get("source") or (live or {}).get("source")
        if runs.cycle is not None and not summary.get("node"):
            mode = view.run_kind(runs.cycle)
        return {
            "served_by": "node" if link is not None else "book",
            "view": runs.label,
            "node": link.name if link is not None else view.name if runs.states else None,
            "mode": mode or ("session" if runs.agents else "empty"),
            "version": __version__,
            "server_time": now,
            "uptime_s": time.monotonic() - started,
            "clock": clock,
            "equity": live["equity"] if live else book_equity,
            "capital": summary.get("capital"),
            "safe_mode": safe or None,
            "paused": bool(live["paused"]) if live else False,
            "control": api.control and link is not None,
            "trader_mode": cycle["mode"] if cycle else None,
            "cycle": cycle,
            "agents": agents,
            "session": (
                {
                    "run_id": runs.agents,
                    "equity": agents_summary.get("equity"),
                    "clock": agents_summary.get("clock"),
                }
                if runs.agents is not None
                else None
            ),
            "freshness": {
                "last_candle": last_candle,
                "age_s": age,
                "stale": live["stale"] if live else {},
                "stale_after": settings.live.stale_after,
            },
            "last_tick": live["tick"] if live else None,
            "runs": {"cycle": runs.cycle, "members": list(runs.members), "agents": runs.agents},
            "nominator": summary.get("nominator"),
        }

    @app.get("/api/runs", response_model=list[RunRow], tags=["status"], dependencies=[Auth])
    def run_list() -> list[dict[str, Any]]:
        """Every run in the trade book, newest first (pick one with `tradewind serve --run`)."""
        return view.run_list()

    @app.get("/api/budget", response_model=BudgetOut, tags=["money"], dependencies=[Auth])
    def budget(points: Annotated[int, Query(ge=2, le=20_000)] = 2000) -> dict[str, Any]:
        """The budget pools now and after each movement of the ledger (at most `points`)."""
        return view.budget(view.runs(), points)

    @app.get("/api/equity", response_model=EquityOut, tags=["money"], dependencies=[Auth])
    def equity(points: Annotated[int, Query(ge=2, le=20_000)] = 2000) -> Response:
        """The equity curve and drawdown of the cycle trader and of the agents, each thinned
        to at most `points` rows (each row keeps its stretch's deepest drawdown)."""
        runs = view.runs()
        body = {
            "run_id": runs.cycle,
            "curve": view.equity(runs.cycle, points),
            "agents_run_id": runs.agents,
            "agents": view.equity(runs.agents, points),
        }
        # Built as the schema says (the tests check it): sent as it is, since validating
        # thousands of points again cost more than building them.
        return Response(json.dumps(body, allow_nan=False), media_type="application/json")

    @app.get(
        "/api/trades/open", response_model=list[TradeOut], tags=["trades"], dependencies=[Auth]
    )
    def open_trades(kind: Literal["real", "sim"] = "real") -> list[dict[str, Any]]:
        """Trades pending or active (real ones; `kind=sim` for the setups followed on
        paper), with the last price and the distance to stop and target."""
        return view.open_trades(view.runs().all, price_of, kind)

    @app.get("/api/trades/closed", response_model=TradePage, tags=["trades"], dependencies=[Auth])
    def closed_trades(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        agent: Annotated[
            str | None, Query(max_length=64, description="An agent's name, or `cycle`.")
        ] = None,
        pair: Annotated[str | None, Query(max_length=64)] = None,
        kind: Literal["real", "sim", "tracked"] | None = None,
        status: Literal["closed", "expired"] = "closed",
    ) -> dict[str, Any]:
        """Finished trades, newest exit first, a page at a time."""
        total, items = view.closed_trades(
            view.runs().all,
            agent=agent,
            pair=pair,
            kind=kind,
            status=status,
            limit=limit,
            offset=offset,
        )
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/cycles", response_model=list[CycleRow], tags=["trades"], dependencies=[Auth])
    def cycles(limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[dict[str, Any]]:
        """The cycle trader's cycles, newest first."""
        return view.cycles(view.runs().cycle, limit)

    @app.get("/api/modes", response_model=list[ModeChangeRow], tags=["trades"], dependencies=[Auth])
    def modes(limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[dict[str, Any]]:
        """Switches between live and dry run (the cycle trader's and each agent's)."""
        return view.mode_changes(view.runs().all, limit)

    @app.get("/api/orders", response_model=list[OrderRow], tags=["trades"], dependencies=[Auth])
    def orders(limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        """The newest orders (live: as the exchange reported them)."""
        return view.orders(view.runs().all, limit)

    @app.get("/api/models", response_model=ModelsOut, tags=["models"], dependencies=[Auth])
    def models() -> dict[str, Any]:
        """The promoted models the node loads (newest per role and scope) and what the
        cycle trader's nominator and lifecycle run on."""
        summary = view.summary(view.runs().cycle)
        return {
            "nominator": summary.get("nominator"),
            "lifecycle": summary.get("lifecycle"),
            "promoted": view.models(),
        }

    @app.get("/api/logs", response_model=list[LogLine], tags=["status"], dependencies=[Auth])
    def log_lines(
        limit: Annotated[int, Query(ge=1, le=100_000)] = 200,
        level: Literal["debug", "info", "warning", "error"] | None = None,
    ) -> list[dict[str, Any]]:
        """The node's recent log lines, secrets masked (empty without a node)."""
        return logs.recent(limit, level) if logs is not None else []

    # -- control -------------------------------------------------------------------------

    def controlled(request: Request, action: str) -> NodeLink:
        if not api.control:
            raise HTTPException(403, "control endpoints are off: set api.control = true")
        if link is None:
            raise HTTPException(409, "no node runs here: `tradewind serve` is read-only")
        who = request.client.host if request.client else "?"
        log.warning("API control: %s (from %s)", action, who)
        return link

    @app.post("/api/control/pause", response_model=OkOut, tags=["control"], dependencies=[Auth])
    def pause(request: Request) -> dict[str, Any]:
        """No new entries (safe mode, saved: a restart stays paused); exits still managed."""
        done = controlled(request, "pause").pause()
        return {"ok": done, "detail": "paused" if done else "already in safe mode"}

    @app.post("/api/control/resume", response_model=OkOut, tags=["control"], dependencies=[Auth])
    def resume(request: Request) -> dict[str, Any]:
        """Lift a pause made here. A safe mode the node entered by itself (a breaker, an
        account problem) is not lifted from the API: that takes a deliberate restart."""
        ok, detail = controlled(request, "resume").resume()
        if not ok:
            raise HTTPException(409, detail)
        return {"ok": True, "detail": detail}

    @app.post(
        "/api/control/trades/{trade_id}/close",
        response_model=OkOut,
        tags=["control"],
        dependencies=[Auth],
        responses={404: {"description": "No such trade"}, 409: {"description": "Not open"}},
    )
    def close_trade(request: Request, trade_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
        """Close trade `trade_id` (its id in `/api/trades/open`) at the open of its pair's
        next candle, or cancel it if still waiting; the trade kernel carries it out at the
        next tick, exit reason `manual`."""
        node = controlled(request, f"close trade {trade_id}")
        ok, detail = node.close_trade(trade_id)
        if not ok:
            raise HTTPException(409, detail)
        return {"ok": True, "detail": detail}

    @app.post(
        "/api/control/agents/{agent}/mode",
        response_model=OkOut,
        tags=["control"],
        dependencies=[Auth],
        responses={404: {"description": "No such agent"}, 409: {"description": "No change"}},
    )
    def agent_mode(
        request: Request,
        agent: Annotated[str, Path(max_length=64)],
        body: AgentModeIn,
    ) -> dict[str, Any]:
        """Switch agent `agent` to `dry_run` (its setups become sim trades from the next
        candle; its open trades keep their exits) or back to `live`."""
        node = controlled(request, f"agent {agent} to {body.mode}")
        ok, detail = node.set_agent_mode(agent, body.mode)
        if not ok:
            raise HTTPException(409, detail)
        return {"ok": True, "detail": detail}

    return app
