from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.cli.app import main
from tradewind.data.store import CandleStore


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("tradewind ")


def test_init_writes_starter_config_and_refuses_to_overwrite(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "init", "--json")
    assert code == 0
    written = json.loads(out)
    assert written["config"] == "tradewind.toml"
    assert Path("tradewind.toml").read_text().startswith("# Tradewind configuration")
    assert home.is_dir()
    # the status API's token: random, 256 bits, readable by its owner only
    token_file = Path(written["api_token_file"])
    assert token_file.resolve() == home / "api-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 43
    assert token not in out
    code, _, err = run(capsys, "init")
    assert code == 1
    assert "already exists" in err


def test_config_show_json_masks_secrets(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_SECRET", "very-secret-value")
    code, out, _ = run(capsys, "config", "show", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["config"]["exchange"]["api_secret"] == "***"  # noqa: S105 - the mask
    assert len(payload["hash"]) == 64
    assert "very-secret-value" not in out


def test_config_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "schema")
    assert code == 0
    assert "properties" in json.loads(out)


def test_bad_config_exits_3_with_one_line_and_no_traceback(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("tradewind.toml").write_text('[data]\ntimefram = "1h"\n')
    code, out, err = run(capsys, "config", "show")
    assert code == 3
    assert "did you mean 'data.timeframe'" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "config", "show", "--debug")
    assert code == 3
    assert "Traceback" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "data", "check", "--no-such-option")
    assert code == 2
    assert "No such option" in err


def test_data_check_reports_problems_and_exits_4(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = make_candles(60)
    df.loc[3, "low"] = df.loc[3, "high"] * 2
    path = tmp_path / "d" / "binance" / "5m" / "AAAUSDT.parquet"
    path.parent.mkdir(parents=True)
    df.to_parquet(path)
    CandleStore(tmp_path / "d", "binance").write("BBBUSDT", "5m", make_candles(60).drop(index=[9]))
    code, out, _ = run(
        capsys,
        "data",
        "check",
        "--data-dir",
        str(tmp_path / "d"),
        "--exchange",
        "binance",
        "--json",
    )
    assert code == 4
    payload = json.loads(out)
    assert payload["files"] == 2
    assert payload["files_with_problems"] == 1
    bad = next(r for r in payload["reports"] if r["symbol"] == "AAAUSDT")
    assert bad["problems"][0]["rule"] == "low"
    assert bad["problems"][0]["row"] == 3
    good = next(r for r in payload["reports"] if r["symbol"] == "BBBUSDT")
    assert good["ok"]
    assert good["missing_candles"] == 1


def test_data_check_on_empty_store_is_a_data_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "data", "check")
    assert code == 4
    assert "no candle files" in err


def test_global_options_apply_to_subcommands(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--home", str(tmp_path / "h"), "--json", "config", "show")
    assert code == 0
    assert json.loads(out)["config"]["home"] == str(tmp_path / "h")


def test_synth_generates_then_reuses_the_synthetic_market(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__SYNTH__PAIRS", "3")
    monkeypatch.setenv("TRADEWIND__SYNTH__DAYS", "4")
    code, out, _ = run(capsys, "data", "synth", "--json", "--quiet")
    assert code == 0
    market = json.loads(out)
    assert market["reused"] is False
    assert market["rows"] == 3 * 4 * 288
    store = CandleStore(home / "data", "synthetic")
    assert len(store.symbols("5m")) == 3
    assert store.read(store.symbols("5m")[0], "5m")["timestamp"].iloc[0] == pd.Timestamp(
        "2024-01-01", tz="UTC"
    )
    code, out, _ = run(capsys, "data", "synth", "--json")
    assert json.loads(out)["reused"] is True
    # fewer pairs: the stale files of the larger market are removed
    monkeypatch.setenv("TRADEWIND__SYNTH__PAIRS", "2")
    code, out, _ = run(capsys, "data", "synth", "--json")
    assert code == 0
    assert len(store.symbols("5m")) == 2
    code, out, _ = run(capsys, "data", "check", "--json")
    assert code == 0
    assert json.loads(out)["files"] == 2


def test_import_resample_and_check_real_binance_vision_files(
    home: Path, capsys: pytest.CaptureFixture[str], shared_data: Path
) -> None:
    raw = shared_data / "raw" / "binance_vision" / "spot" / "BTCUSDT" / "1h"
    code, out, _ = run(capsys, "data", "import", str(raw), "--json", "--quiet")
    assert code == 0
    payload = json.loads(out)
    assert payload["added"] == 3623
    assert payload["series"][0]["gaps"] == [
        {"start": "2023-03-24T13:00:00+00:00", "end": "2023-03-24T13:00:00+00:00", "missing": 1}
    ]
    code, out, _ = run(
        capsys,
        "data",
        "resample",
        "--exchange",
        "binance",
        "--from",
        "1h",
        "--to",
        "1d",
        "--json",
        "--quiet",
    )
    assert code == 0
    assert json.loads(out)["files"] == [{"symbol": "BTCUSDT", "rows": 151}]
    code, out, _ = run(capsys, "data", "check", "--exchange", "binance", "--json")
    assert code == 0
    assert json.loads(out)["files"] == 2


def test_import_of_a_malformed_csv_exits_4_and_writes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "BTCUSDT-1h-2024-01.csv"
    bad.write_text("1704067200000,1,2,0.5,1.5,10\n")  # 6 columns, not 12
    code, _, err = run(capsys, "data", "import", str(bad))
    assert code == 4
    assert "BTCUSDT-1h-2024-01.csv" in err
    assert not (home / "data").exists()
