"""The configuration schema: frozen pydantic models that reject unknown keys.

Every command runs on these defaults when there is no config file at all; the defaults
describe the embedded synthetic market, so a fresh clone works with no data and no keys.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tradewind.domain.types import Timeframe, normalize_symbol, parse_duration, parse_utc
from tradewind.errors import ConfigError

__all__ = [
    "AgentConfig",
    "ApiConfig",
    "BacktestConfig",
    "CycleConfig",
    "DataConfig",
    "DownloadConfig",
    "ExchangeConfig",
    "FillsConfig",
    "LifecycleConfig",
    "LiveConfig",
    "MLConfig",
    "NotifyConfig",
    "SelectionConfig",
    "SessionConfig",
    "Settings",
    "StoreConfig",
    "SynthConfig",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _check_timeframe(value: str) -> str:
    try:
        return Timeframe.parse(value).name
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _check_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_utc(value).isoformat()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class DataConfig(_Section):
    """Where candles are read from and written to."""

    data_dir: Path | None = Field(
        default=None,
        description="Candle store root; empty means <home>/data. ../shared/data reads in place.",
    )
    exchange: str = Field(
        default="synthetic",
        description="Exchange folder inside data_dir ('synthetic' is the embedded market).",
    )
    timeframe: str = Field(default="5m", description="Default candle timeframe, e.g. 5m, 1h.")
    pairs: list[str] = Field(
        default_factory=list, description="Pairs to use; empty means every pair in the store."
    )

    _tf = field_validator("timeframe")(_check_timeframe)

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        try:
            return [normalize_symbol(p) for p in value]
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


class ExchangeConfig(_Section):
    """The exchange reached through ccxt. Keys come from the environment only."""

    name: str = Field(default="binance", description="ccxt exchange id, e.g. binance, kraken.")
    api_key: SecretStr | None = Field(
        default=None, description="Set TRADEWIND__EXCHANGE__API_KEY in the environment."
    )
    api_secret: SecretStr | None = Field(
        default=None, description="Set TRADEWIND__EXCHANGE__API_SECRET in the environment."
    )
    testnet: bool = Field(default=False, description="Use the exchange's sandbox (ccxt).")
    api_url: str | None = Field(
        default=None,
        description="Override the REST base URL (e.g. a local test server); empty = official.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout in seconds.")
    weight_budget: int | None = Field(
        default=None,
        gt=0,
        description="Request-weight budget per window; empty = the exchange's (Binance: 6000).",
    )
    weight_window_s: float | None = Field(
        default=None, gt=0, description="Length of the weight window in seconds (Binance: 60)."
    )
    budget_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the weight budget Tradewind may use (leave room for other tools).",
    )


class DownloadConfig(_Section):
    """How candles are fetched: concurrency, retries, paging."""

    concurrency: int = Field(default=16, ge=1, le=256, description="Requests in flight (async).")
    max_retries: int = Field(default=6, ge=0, description="Retries of a retryable failure.")
    backoff_s: float = Field(default=0.5, gt=0, description="First back-off pause in seconds.")
    backoff_max_s: float = Field(default=60.0, gt=0, description="Longest back-off pause.")
    page_limit: int = Field(default=1000, ge=1, le=1000, description="Candles per request.")


class SynthConfig(_Section):
    """The embedded synthetic market (exchange folder 'synthetic')."""

    pairs: int = Field(default=30, ge=1, le=500, description="Number of pairs.")
    timeframe: str = Field(default="5m", description="Candle timeframe of the generated market.")
    start: str = Field(default="2024-01-01", description="First candle (UTC).")
    days: int = Field(default=240, ge=1, le=3650, description="Length in days (~8 months).")
    signal: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Strength of the planted, learnable breakout signal (0 = none).",
    )
    regime_dependent: bool = Field(
        default=False,
        description="Breakouts follow accumulations only in calm or rising regimes.",
    )
    event_rate: float = Field(
        default=0.04,
        ge=0,
        le=1,
        description="Daily chance of an accumulation pattern per pair (where the signal sits).",
    )

    _tf = field_validator("timeframe")(_check_timeframe)
    _start = field_validator("start")(_check_date)


def _check_duration(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_duration(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


class LifecycleConfig(_Section):
    """The trade lifecycle: pre-trade window, exits, trailing stop, tracking (seed 000)."""

    limit: float = Field(
        default=1.005, gt=1, description="Breakout above: nomination price × this."
    )
    window_stop: float = Field(
        default=0.92, gt=0, lt=1, description="Breakout below: nomination price × this."
    )
    breakout: Literal["both", "up"] = Field(
        default="both", description="Buy on a break out of the window either way, or up only."
    )
    expiry: str = Field(default="24h", description="A nomination without breakout expires.")
    take_profit: float = Field(default=1.52, gt=1, description="Target: entry × this.")
    stop_loss: float = Field(default=0.983, gt=0, lt=1, description="Stop: entry × this.")
    trail_activation: float = Field(
        default=1.10, gt=1, description="The trailing stop starts past entry × this."
    )
    trail_distance: float = Field(
        default=0.983, gt=0, lt=1, description="Trailing stop: best reference price × this."
    )
    trail_reference: Literal["close", "high"] = Field(
        default="close", description="Best price since entry by closes or by highs."
    )
    max_hold: str | None = Field(
        default=None, description="Time exit after this long; empty = off."
    )
    track_horizon: str = Field(
        default="30d", description="How long a trade closed by other than its stop is tracked."
    )

    _durations = field_validator("expiry", "max_hold", "track_horizon")(_check_duration)


class FillsConfig(_Section):
    """How orders fill in backtest and paper trading."""

    fee: float = Field(default=0.0015, ge=0, lt=0.05, description="Fee per fill (0.15 %).")
    slippage: float = Field(
        default=0.0005,
        ge=0,
        lt=0.05,
        description="Market orders fill this much worse than the open (half a 0.1 % spread).",
    )
    max_volume_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="An entry takes at most this share of a candle's volume (0 = no cap); "
        "the unfilled rest of its capital is released.",
    )
    borrow_rate: float = Field(
        default=0.0002,
        ge=0,
        lt=0.01,
        description="A short's borrowing interest per day on its entry notional (0.02 %, "
        "about Binance's cross-margin rate for major coins), charged for every bar begun.",
    )


class CycleConfig(_Section):
    """The cycle trader: daily nominations, random choice, sizing, pools, dry-run switch."""

    capital: float = Field(default=10_000.0, gt=0, description="Starting capital (quote).")
    decision_time: str = Field(default="23:55", description="Daily prediction time (UTC HH:MM).")
    pairs_per_cycle: int = Field(default=5, ge=1, description="K pairs chosen per cycle.")
    nominator: Literal["auto", "model", "momentum", "random"] = Field(
        default="auto",
        description="Who nominates pairs: the trained model (model), the rule-based momentum "
        "ranking, random, or auto (the model when one is promoted, else momentum).",
    )
    nominator_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the nominator, e.g. {top_n = 10}."
    )
    risk_params: str = Field(
        default="auto",
        description="Lifecycle parameters per regime cluster from `tradewind optimize`: auto "
        "(the promoted set made for the promoted regime model, else the [lifecycle] values), "
        "static (always the [lifecycle] values) or a parameter-set id.",
    )
    sizing: Literal["equal", "inverse_volatility", "kelly"] = Field(
        default="equal", description="Capital per chosen pair."
    )
    kelly_fraction: float = Field(default=0.25, gt=0, le=1, description="Fractional Kelly.")
    min_allocation: float = Field(
        default=10.0,
        ge=0,
        description="Smallest trade worth placing (quote; exchanges refuse tiny orders).",
    )
    volatility_lookback: str = Field(
        default="7d", description="Window of the volatility estimate for inverse-vol sizing."
    )
    reinvest_threshold: float = Field(
        default=0.01, ge=0, description="Divestment goes to trades up at least this much."
    )
    reinvest_split: Literal["equal", "profit"] = Field(
        default="equal", description="Split divestment equally or by unrealised profit."
    )
    min_reinvest: float = Field(
        default=10.0, ge=0, description="Smallest divestment worth reinvesting (quote)."
    )
    dry_run_loss_threshold: int = Field(
        default=3, ge=0, description="Losing cycles in a row before paper trading; 0 = never."
    )
    dry_run_to_live_threshold: float = Field(
        default=0.10, gt=0, description="A paper trade this far up converts the cycle to live."
    )
    convert_mid_cycle: bool = Field(
        default=True, description="Convert a dry-run cycle to live mid-cycle (else next cycle)."
    )
    track_not_selected: bool = Field(
        default=True, description="Follow nominated pairs not chosen as sim trades."
    )

    _vol = field_validator("volatility_lookback")(_check_duration)

    @field_validator("decision_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parts = value.split(":")
        if (
            len(parts) != 2
            or not all(p.isdigit() for p in parts)
            or int(parts[0]) > 23
            or int(parts[1]) > 59
        ):
            raise ValueError(f"decision_time {value!r}: use HH:MM in UTC, e.g. 23:55")
        return f"{int(parts[0]):02d}:{int(parts[1]):02d}"


class BacktestConfig(_Section):
    """What a backtest covers and keeps."""

    start: str | None = Field(default=None, description="First candle used (UTC); empty = all.")
    end: str | None = Field(default=None, description="Last candle used (UTC); empty = all.")
    trader: Literal["auto", "cycle", "session"] = Field(
        default="auto",
        description="What to backtest: the cycle trader, the session of [[agents]], "
        "or auto (the session when agents are configured).",
    )
    save: bool = Field(default=True, description="Write a run folder under <home>/runs.")
    report: bool = Field(
        default=True,
        description="Write report.html and PNG figures into every saved run and study folder "
        "(backtest, Monte Carlo, walk-forward, optimize).",
    )
    detail: str | None = Field(
        default=None,
        description="Lower timeframe (e.g. 5m) that resolves candles touching stop and target.",
    )
    worker_start: Literal["auto", "forkserver", "fresh"] = Field(
        default="auto",
        description="How the worker processes of Monte Carlo, ensemble and sizing studies "
        "start: forkserver (forked warm from one process that loaded tradewind once; each "
        "worker imports the program's main module, so a script needs an `if __name__ == "
        '"__main__":` guard), fresh (new interpreters that do not import it), or auto '
        "(forkserver for the tradewind command, `python -m`, notebooks; fresh otherwise).",
    )

    _dates = field_validator("start", "end")(_check_date)

    @field_validator("detail")
    @classmethod
    def _detail(cls, value: str | None) -> str | None:
        return None if value is None else _check_timeframe(value)

    @model_validator(mode="after")
    def _order(self) -> BacktestConfig:
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"backtest.start {self.start} is not before backtest.end {self.end}")
        return self


class LiveConfig(_Section):
    """The node of `tradewind run`: paper by default, live only when asked twice."""

    mode: Literal["paper", "live"] = Field(
        default="paper",
        description="paper: the simulated venue on live candles. live: real orders, which "
        "also need `tradewind run --live` and the API keys in the environment.",
    )
    name: str = Field(
        default="node",
        min_length=1,
        max_length=64,
        description="The node's name in the trade book: its state, run and trades.",
    )
    history: str = Field(
        default="30d",
        description="Candles before the node's start loaded for the nominator's warm-up.",
    )
    candle_delay: int = Field(
        default=10,
        ge=0,
        le=240,
        description="Seconds after a candle's close before the candle job reads it "
        "(the exchange needs a moment to publish it).",
    )
    daily_loss_limit: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Circuit breaker: a loss of this share of the UTC day's opening equity "
        "puts the node in safe mode (no new entries; exits still managed).",
    )
    max_drawdown: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Circuit breaker: a drawdown of this share from the node's equity peak "
        "puts it in safe mode.",
    )
    stale_after: int = Field(
        default=3,
        ge=1,
        description="Candles a pair may miss in a row before the freshness watchdog "
        "reports it stale (a stale pair is never traded on: no candle, no action).",
    )

    ensemble: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Cycle traders in the node (seed §5.2): K independent traders, each "
        "with 1/K of cycle.capital and its own seed, on the same candles (paper and "
        "replay so far).",
    )
    retrain: str = Field(
        default="weekly",
        description="When the node retrains its models (what `tradewind train` does, on the "
        "candles stored so far; a model is promoted only when it beats its baseline out of "
        "sample, and the node uses it from its next decision): weekly (Mondays 03:00 UTC), "
        "daily (03:00 UTC), off, or a five-field crontab in UTC.",
    )
    reconcile_every: int = Field(
        default=180,
        ge=30,
        le=3600,
        description="Live: seconds between reconciliations with the exchange between "
        "ticks (each tick reconciles too): open orders, fills and balances against the "
        "book.",
    )
    shorts: Literal["paper", "margin"] = Field(
        default="paper",
        description="Live: where short agents trade. paper: in the book only (a spot "
        "account holds no short); margin: on the exchange's cross-margin account, "
        "borrowing what they sell (its interest recorded), netted per pair.",
    )
    protective_stops: bool = Field(
        default=True,
        description="Live: keep each open position's stop resting at the exchange "
        "(stop-loss-limit), replaced as the trailing stop moves, so a position stays "
        "protected while the node is down.",
    )
    stop_limit_gap: float = Field(
        default=0.005,
        ge=0,
        lt=0.2,
        description="Live: a protective stop's limit lies this share below its trigger "
        "(how far a fast market may fill it from the stop).",
    )
    balance_tolerance: float = Field(
        default=0.001,
        ge=0,
        le=0.1,
        description="Live: reconciliation tolerates a balance this share away from what "
        "the book's fills add up to (two lot steps for a base asset at least); beyond it "
        "the node enters safe mode.",
    )
    max_failures: int = Field(
        default=6,
        ge=1,
        description="Live: ticks in a row whose exchange work fails before the node enters "
        "safe mode (each failure is retried on the next tick first).",
    )

    _durations = field_validator("history")(_check_duration)

    @field_validator("retrain")
    @classmethod
    def _check_retrain(cls, value: str) -> str:
        # The crontab's fields are checked when the node builds its schedule (APScheduler
        # is not imported for every command).
        if value in ("weekly", "daily", "off") or len(value.split()) == 5:
            return value
        raise ValueError(
            f"{value!r}: use weekly, daily, off or a five-field crontab such as '0 3 * * mon'"
        )


NotifyEvent = Literal["trade_open", "trade_close", "mode_switch", "safe_mode", "error"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = (
    "trade_open",
    "trade_close",
    "mode_switch",
    "safe_mode",
    "error",
)


class ApiConfig(_Section):
    """The status server and dashboard: local, read-only and behind a token by default.

    ``tradewind run`` serves them beside the node, ``tradewind serve`` over a trade book."""

    enabled: bool = Field(
        default=True, description="`tradewind run` serves the API and dashboard beside the node."
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address to bind; anything but a loopback address is warned about.",
    )
    port: int = Field(
        default=8765, ge=0, le=65535, description="TCP port (0 = any free port, logged)."
    )
    control: bool = Field(
        default=False,
        description="Enable the control endpoints (pause entries, close a trade, agent to "
        "dry run); each call needs the token and is logged.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS); empty = none.",
    )
    token_file: Path | None = Field(
        default=None,
        description="The API token's file (mode 0600); empty = <home>/api-token, written by "
        "`tradewind init` (or at the first start).",
    )
    log_lines: int = Field(
        default=500, ge=10, le=100_000, description="Recent log lines kept for /api/logs."
    )
    refresh_s: float = Field(
        default=5.0, gt=0, le=3600, description="How often the dashboard asks for new data."
    )

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError(
                "'*' would let any web page read the node's status with a stolen token; "
                "name the origins (e.g. http://localhost:3000)"
            )
        return value


class NotifyConfig(_Section):
    """Notifications of trades, mode switches, safe mode and errors (webhook, Telegram).

    A JSON webhook and Telegram; their URLs and tokens are secrets, environment only."""

    webhook_url: SecretStr | None = Field(
        default=None,
        description="Set TRADEWIND__NOTIFY__WEBHOOK_URL in the environment: each event is "
        "POSTed there as JSON.",
    )
    telegram_token: SecretStr | None = Field(
        default=None, description="Set TRADEWIND__NOTIFY__TELEGRAM_TOKEN (a bot's token)."
    )
    telegram_chat_id: SecretStr | None = Field(
        default=None, description="Set TRADEWIND__NOTIFY__TELEGRAM_CHAT_ID (where it writes)."
    )
    telegram_api: str = Field(
        default="https://api.telegram.org", description="Telegram's Bot API base URL."
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS), description="Which events are sent."
    )
    retries: int = Field(default=4, ge=0, le=20, description="Retries of a failed delivery.")
    backoff_s: float = Field(
        default=1.0, gt=0, le=600, description="First pause before a retry (doubles each)."
    )
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per-request timeout.")
    queue: int = Field(
        default=1000,
        ge=1,
        description="Events waiting to be sent at most; beyond it the oldest are dropped "
        "(and counted), never the trading loop slowed.",
    )


class SessionConfig(_Section):
    """The modular trader's session: account, risk, allocation across agents (seed 004)."""

    capital: float = Field(default=10_000.0, gt=0, description="Starting capital (quote).")
    risk_per_trade: float = Field(
        default=0.01,
        gt=0,
        le=0.2,
        description="Share of equity a trade loses at its stop (entry and exit fees included).",
    )
    open_risk_cap: float = Field(
        default=0.06,
        gt=0,
        le=1,
        description="Most equity all open trades may lose if every one hits its stop; "
        "a setup that would pass it is recorded as a sim trade.",
    )
    allocation_floor: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of capital spread equally over agents before expectancy weighting.",
    )
    expectancy_trades: int = Field(
        default=50, ge=1, description="Recent closed real and sim trades an agent is judged on."
    )
    dry_run_loss_days: int = Field(
        default=3,
        ge=1,
        description="Losing UTC days in a row before an agent with dry_run_switch trades on "
        "paper; a winning paper day brings it back.",
    )


class MLConfig(_Section):
    """Training: models, split protocol, feature selection, imbalance, hyperparameters."""

    timeframe: str = Field(
        default="1h",
        description="Candles the features are computed on (resampled from data.timeframe; "
        "a model reads the last one closed at its decision).",
    )
    model: str = Field(
        default="random_forest",
        description="The classifier: random_forest, hist_gradient_boosting, "
        "logistic_regression, or any scikit-learn classifier by its dotted path, e.g. "
        "sklearn.ensemble.ExtraTreesClassifier.",
    )
    model_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Its parameters, e.g. {n_estimators = 300, min_samples_leaf = 50}.",
    )
    split: list[float] = Field(
        default_factory=lambda: [0.6, 0.2, 0.2],
        description="Train / validation / test shares, in time order.",
    )
    embargo: str = Field(default="1d", description="Rows left out after each split boundary.")
    label_horizon: str = Field(
        default="7d", description="A label's trade is closed at the close after this long."
    )
    sampler: Literal["none", "random_under", "near_miss"] = Field(
        default="random_under", description="Class balancing of the training rows."
    )
    select_k: int = Field(
        default=40, ge=0, description="Mutual-information filter keeps this many (0 = all)."
    )
    permutation: bool = Field(
        default=True, description="Then drop features without permutation importance."
    )
    sfs_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Then greedy forward selection on validation AUC for at most this long "
        "(0 = off).",
    )
    trials: int = Field(default=0, ge=0, description="Optuna trials (0 = the given params).")
    trial_jobs: int = Field(
        default=1,
        ge=1,
        description="Optuna trials run at once; 1 is reproducible from the seed, more are "
        "faster but not bit-reproducible.",
    )
    jobs: int = Field(default=2, ge=1, description="Models trained at once by `tradewind train`.")
    study_url: str | None = Field(
        default=None, description="Optuna storage; empty = sqlite:///<home>/optuna.sqlite."
    )
    technical_per_regime: bool = Field(
        default=False,
        description="Also train each agent's technical model per regime (of the cycle "
        "trader's regime model); setups go to their regime's model.",
    )
    regime_k: int = Field(
        default=0, ge=0, description="Regime clusters (k-means); 0 = chosen by silhouette."
    )
    recency_half_life: str | None = Field(
        default="90d", description="Weight of a training row halves with this age; empty = off."
    )
    min_samples: int = Field(
        default=200, ge=10, description="Fewer labelled rows than this: no model is trained."
    )
    require_models: bool = Field(
        default=False,
        description="Refuse to backtest or scan when a named model is missing (else run "
        "without it and say so).",
    )

    _durations = field_validator("embargo", "label_horizon", "recency_half_life")(_check_duration)
    _tf = field_validator("timeframe")(_check_timeframe)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        named = ("random_forest", "hist_gradient_boosting", "logistic_regression")
        if value in named:
            return value
        if not value.startswith(("sklearn.", "imblearn.")) or value.count(".") < 2:
            raise ValueError(
                f"ml.model {value!r}: use {', '.join(named)} or a dotted scikit-learn "
                "(or imbalanced-learn) class path, e.g. sklearn.ensemble.ExtraTreesClassifier"
            )
        return value

    @field_validator("split")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if len(value) != 3 or min(value) <= 0 or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(f"split {list(value)} must be three positive shares adding to 1")
        return value


class StoreConfig(_Section):
    """The trade book: where trades, orders, ledger, cycles and runs are kept."""

    url: str | None = Field(
        default=None,
        description="Database URL (SQLAlchemy); empty = sqlite:///<home>/tradebook.sqlite.",
    )


_STRATEGY_PARAMS: dict[str, dict[str, Any]] = {
    # name → {parameter: default}; the strategies' own functions validate the values again.
    "channel_run": {
        "lookback": 200,
        "entry": "mid",
        "goal": "edge",
        "atr_period": 14,
        "stop_atr": 0.5,
        # Mid entries towards the far edge cannot reach 1: the stop is below the lower
        # edge, farther than the goal (see docs/strategies.md).
        "min_reward_risk": 0.5,
    },
    "trail_fractals": {"width": 5, "target_r": None, "trend": None},
}
_MODEL_ROLES = ("technical", "risk", "performance")


class SelectionConfig(_Section):
    """Which pairs an agent trades."""

    method: Literal["quote_volume_1d"] = Field(
        default="quote_volume_1d", description="Rank pairs by 1-day quote volume."
    )
    pairs: int = Field(default=100, ge=1, description="How many of the top pairs.")


class AgentConfig(_Section):
    """One agent of the modular trader: strategy × side × timeframe × parameters × models."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique name.")
    strategy: Literal["channel_run", "trail_fractals"]
    side: Literal["long", "short"]
    timeframe: str = Field(description="Candle timeframe the agent acts on, e.g. 1h.")
    params: dict[str, Any] = Field(default_factory=dict, description="Strategy parameters.")
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    models: dict[str, str] = Field(
        default_factory=dict, description='Models by role: "latest" or a model id.'
    )
    dry_run_switch: bool = Field(
        default=False, description="Opt into the dry-run switch (a UTC day is a cycle)."
    )

    _tf = field_validator("timeframe")(_check_timeframe)

    @property
    def strategy_params(self) -> dict[str, Any]:
        """``params`` completed with the strategy's defaults (what the agent runs with)."""
        return {**_STRATEGY_PARAMS[self.strategy], **self.params}

    @model_validator(mode="after")
    def _known_params_and_models(self) -> AgentConfig:
        allowed = _STRATEGY_PARAMS[self.strategy]
        for key in self.params:
            if key not in allowed:
                hint = difflib.get_close_matches(key, list(allowed), n=1)
                guess = f" — did you mean {hint[0]!r}?" if hint else ""
                raise ValueError(
                    f"agent {self.name!r}: {self.strategy} has no parameter {key!r}{guess} "
                    f"(allowed: {', '.join(allowed)})"
                )
        for role, ref in self.models.items():
            if role not in _MODEL_ROLES:
                raise ValueError(
                    f"agent {self.name!r}: unknown model role {role!r} "
                    f"(allowed: {', '.join(_MODEL_ROLES)})"
                )
            if ref != "latest" and not ref.isalnum():
                raise ValueError(
                    f'agent {self.name!r}: model {role} = {ref!r}: use "latest" or a model id'
                )
        return self


class _FileSource(PydanticBaseSettingsSource):
    """Feeds the parsed TOML file to pydantic-settings, below the environment overlay."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """The whole resolved configuration: file, then environment overlay, then CLI options."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix="TRADEWIND__",
        env_nested_delimiter="__",
        case_sensitive=False,
        validate_default=True,
    )

    home: Path = Field(
        default=Path(".tradewind"),
        description="Folder for everything Tradewind writes (candles, runs, models, tokens).",
    )
    seed: int = Field(default=42, description="Master seed of everything random.")
    data: DataConfig = Field(default_factory=DataConfig)
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    fills: FillsConfig = Field(default_factory=FillsConfig)
    cycle: CycleConfig = Field(default_factory=CycleConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)
    ml: MLConfig = Field(default_factory=MLConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    agents: list[AgentConfig] = Field(
        default_factory=list, description="Agents of the modular trader ([[agents]] tables)."
    )

    @model_validator(mode="after")
    def _unique_agents(self) -> Settings:
        names = [a.name for a in self.agents]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"agent names must be unique: {', '.join(twice)} appear twice")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from tradewind.config.load import current_file_data

        return (init_settings, env_settings, _FileSource(settings_cls, current_file_data()))

    @property
    def book_url(self) -> str:
        """The trade book's database URL: ``store.url`` or a SQLite file under home."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{(self.home / 'tradebook.sqlite').as_posix()}"

    @property
    def data_dir(self) -> Path:
        """The candle store root: ``data.data_dir`` or ``<home>/data``."""
        return self.data.data_dir if self.data.data_dir is not None else self.home / "data"
