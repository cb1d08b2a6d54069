"""The configuration schema: frozen pydantic models that reject unknown keys.

Every command runs on these defaults when there is no config file at all; the defaults
describe the embedded synthetic market, so a fresh clone works with no data and no keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tradewind.domain.types import Timeframe, normalize_symbol, parse_utc
from tradewind.errors import ConfigError

__all__ = [
    "DataConfig",
    "DownloadConfig",
    "ExchangeConfig",
    "Settings",
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

    _tf = field_validator("timeframe")(_check_timeframe)
    _start = field_validator("start")(_check_date)


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
    def data_dir(self) -> Path:
        """The candle store root: ``data.data_dir`` or ``<home>/data``."""
        return self.data.data_dir if self.data.data_dir is not None else self.home / "data"
