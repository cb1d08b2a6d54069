from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradewind.config import config_hash, json_schema, load_config, resolved_dict, starter_toml
from tradewind.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradewind.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file_use_the_synthetic_market(home: Path) -> None:
    s = load_config(environ={})
    assert s.data.exchange == "synthetic"
    assert s.data_dir == Path(".tradewind") / "data"


def test_file_then_environment_then_options_in_that_order(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[data]\ntimeframe = "1h"\nexchange = "binance"\n')
    s = load_config(path, environ={"TRADEWIND__DATA__TIMEFRAME": "4h"})
    assert (s.data.timeframe, s.data.exchange) == ("4h", "binance")
    s = load_config(
        path, {"data": {"timeframe": "15m"}}, environ={"TRADEWIND__DATA__TIMEFRAME": "4h"}
    )
    assert s.data.timeframe == "15m"


def test_misspelt_key_names_file_key_and_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\ntimefram = "1h"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    msg = str(err.value)
    assert str(path) in msg
    assert "data.timefram" in msg
    assert "did you mean 'data.timeframe'" in msg


def test_wrong_type_and_value_name_key_and_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, 'seed = "abc"\n[data]\ntimeframe = "7m"\n[synth]\npairs = 0\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    msg = str(err.value)
    assert "3 configuration errors" in msg
    assert "'seed'" in msg
    assert "valid integer" in msg
    assert "'data.timeframe'" in msg
    assert "use one of" in msg
    assert "'synth.pairs'" in msg
    assert "greater than or equal to 1" in msg


def test_unknown_section_in_environment_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match="TRADEWIND__SEEED.*did you mean TRADEWIND__SEED"):
        load_config(environ={"TRADEWIND__SEEED": "1"})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable TRADEWIND__DOWNLOAD__CONCURRENCY"):
        load_config(environ={"TRADEWIND__DOWNLOAD__CONCURRENCY": "many"})


def test_invalid_toml_names_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, "[data\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(path, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


def test_api_key_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[exchange]\napi_key = "abc"\n')
    with pytest.raises(ConfigError, match="TRADEWIND__EXCHANGE__API_KEY"):
        load_config(path, environ={})


def test_secret_from_environment_is_never_shown() -> None:
    s = load_config(environ={"TRADEWIND__EXCHANGE__API_KEY": "hunter2-secret"})
    assert s.exchange.api_key is not None
    assert s.exchange.api_key.get_secret_value() == "hunter2-secret"
    assert "hunter2" not in repr(s)
    assert "hunter2" not in json.dumps(resolved_dict(s))
    assert resolved_dict(s)["exchange"]["api_key"] == "***"


def test_hash_is_stable_ignores_secrets_and_tracks_values() -> None:
    base = load_config(environ={})
    assert config_hash(base) == config_hash(load_config(environ={}))
    keyed = load_config(environ={"TRADEWIND__EXCHANGE__API_KEY": "k"})
    assert config_hash(keyed) == config_hash(base)
    assert config_hash(load_config(environ={"TRADEWIND__SEED": "7"})) != config_hash(base)


def test_starter_config_round_trips_to_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, starter_toml())
    assert config_hash(load_config(path, environ={})) == config_hash(load_config(environ={}))


def test_schema_lists_every_section() -> None:
    schema = json_schema()
    assert {"home", "seed", "data", "exchange", "download", "synth"} <= set(schema["properties"])
