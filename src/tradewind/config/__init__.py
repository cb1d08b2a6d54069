"""Configuration: pydantic models, TOML + environment loading, hash, schema, starter file."""

from __future__ import annotations

from tradewind.config.load import (
    DEFAULT_CONFIG_NAME,
    config_hash,
    load_config,
    resolved_dict,
)
from tradewind.config.models import (
    DataConfig,
    DownloadConfig,
    ExchangeConfig,
    Settings,
    SynthConfig,
)
from tradewind.config.starter import json_schema, starter_toml

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DataConfig",
    "DownloadConfig",
    "ExchangeConfig",
    "Settings",
    "SynthConfig",
    "config_hash",
    "json_schema",
    "load_config",
    "resolved_dict",
    "starter_toml",
]
