"""Monte Carlo: seeded from one master seed, the same on one worker or two, resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.backtest.test_run import SMALL
from tradewind.backtest.montecarlo import bootstrap_trades, run_montecarlo, run_seeds
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.errors import ConfigError

SETTINGS_ENV = {
    **SMALL,
    "TRADEWIND__CYCLE__NOMINATOR": "random",
    "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",
    "TRADEWIND__CYCLE__NOMINATOR_PARAMS": "{}",
}


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def test_seeds_are_spawned_from_the_master_seed() -> None:
    a, b = run_seeds(42, 5), run_seeds(42, 5)
    assert a == b
    assert len(set(a)) == 5
    assert run_seeds(43, 5) != a
    assert run_seeds(42, 8)[:5] == a  # more runs extend the same sequence


def test_choice_runs_agree_across_workers_and_resume(market: Path, tmp_path: Path) -> None:
    settings = load_config(environ=SETTINGS_ENV)
    one = run_montecarlo(settings, runs=6, folder=tmp_path / "a", jobs=1)
    two = run_montecarlo(settings, runs=6, folder=tmp_path / "b", jobs=2)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    assert len(set(one.runs["final_equity"])) > 1  # the choice of pairs matters
    # Interrupted study: runs 1 and 4 never finished, and the crash cut the line being
    # written; the rerun drops that line and does just those two (and the cut one).
    import json

    journal = tmp_path / "a" / "runs.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert sorted(json.loads(x)["run"] for x in lines) == list(range(6))
    kept = [x for x in lines if json.loads(x)["run"] not in (1, 4, 5)]
    cut = next(x for x in lines if json.loads(x)["run"] == 5)
    journal.write_text("".join(kept) + cut[: len(cut) // 2], encoding="utf-8")
    seen: list[int] = []
    again = run_montecarlo(settings, runs=6, folder=tmp_path / "a", jobs=1, on_run=seen.append)
    assert sorted(seen) == [1, 4, 5]
    assert again.summary["resumed"] == 3
    pd.testing.assert_frame_equal(again.runs, one.runs)
    rows = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["run"] for r in rows) == list(range(6))  # whole lines only
    s = one.summary
    assert s["runs"] == 6
    assert 0.0 <= s["probability_of_loss"] <= 1.0
    p = s["percentiles"]["final_equity"]
    assert p["p5"] <= p["p50"] <= p["p95"]


def test_trade_bootstrap_compounds_relative_returns() -> None:
    returns = np.array([0.1, -0.05, 0.02])
    table = bootstrap_trades(returns, 1000.0, runs=200, seed=1)
    assert (table["final_equity"] > 0).all()
    # Every path is a reordering with replacement of the same returns, compounded.
    assert table["final_equity"].max() <= 1000.0 * 1.1**3 + 1e-9
    assert table["final_equity"].min() >= 1000.0 * 0.95**3 - 1e-9
    assert (table["max_drawdown"] <= 0).all()
    assert table["max_drawdown"].min() >= -(1 - 0.95**3) - 1e-9  # three losses in a row


@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_joblib_results_seed_for_seed(
    market: Path, tmp_path: Path
) -> None:
    settings = load_config(environ=SETTINGS_ENV)
    local = run_montecarlo(settings, runs=4, folder=tmp_path / "joblib", jobs=2)
    dask = run_montecarlo(settings, runs=4, folder=tmp_path / "dask", jobs=2, cluster="local")
    pd.testing.assert_frame_equal(local.runs, dask.runs)

    # A scheduler named by address is a cluster elsewhere: the inputs are scattered to its
    # workers instead of mapped from this machine's file.
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
    ):
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        remote = run_montecarlo(
            settings, runs=4, folder=tmp_path / "remote", jobs=2, cluster=address
        )
    pd.testing.assert_frame_equal(local.runs, remote.runs)


def test_block_bootstrap_keeps_candles_valid_and_blocks_whole(market: Path) -> None:
    from tradewind.backtest.montecarlo import block_bootstrap
    from tradewind.backtest.run import load_backtest_panel

    settings = load_config(environ=SETTINGS_ENV)
    panel = load_backtest_panel(settings)
    boot = block_bootstrap(panel, np.random.default_rng(3), 24)
    assert boot.values.shape == panel.values.shape
    o, h, lo, c = (boot.field(n) for n in ("open", "high", "low", "close"))
    ok = boot.mask
    assert (h[ok] >= np.maximum(o[ok], c[ok]) - 1e-9).all()
    assert (lo[ok] <= np.minimum(o[ok], c[ok]) + 1e-9).all()
    assert (c[ok] > 0).all()
    # Returns are drawn from the history: every close-to-close return of the new path is
    # one of the original's.
    orig = np.log(panel.field("close")[1:] / panel.field("close")[:-1])
    new = np.log(c[1:] / c[:-1])
    both = np.isfinite(new)
    assert np.isin(np.round(new[both], 10), np.round(orig[np.isfinite(orig)], 10)).mean() > 0.99


def test_blocks_source_runs_and_differs_per_seed(market: Path, tmp_path: Path) -> None:
    settings = load_config(environ=SETTINGS_ENV)
    study = run_montecarlo(settings, runs=3, folder=tmp_path / "blocks", source="blocks")
    assert len(set(study.runs["final_equity"])) == 3
    # The same folder with another block length is another study: nothing is reused.
    seen: list[int] = []
    other = run_montecarlo(
        settings,
        runs=3,
        folder=tmp_path / "blocks",
        source="blocks",
        block="4h",
        on_run=seen.append,
    )
    assert sorted(seen) == [0, 1, 2]
    assert other.summary["resumed"] == 0
    assert not other.runs["final_equity"].equals(study.runs["final_equity"])
    lines = (tmp_path / "blocks" / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # the other study's lines were dropped, not mixed in


def test_ensembles_split_the_capital_and_report_the_spread_by_size(
    market: Path, tmp_path: Path
) -> None:
    from tradewind.backtest.montecarlo import ensemble_sizes, run_ensembles

    assert ensemble_sizes(32) == [1, 2, 4, 8, 16, 32]
    assert ensemble_sizes(5) == [1, 2, 4]
    settings = load_config(environ=SETTINGS_ENV)
    result = run_ensembles(settings, largest=4, ensembles=3, folder=tmp_path / "e", jobs=2)
    table = pd.DataFrame(result["table"])
    assert table["traders"].tolist() == [1, 2, 4]
    assert (table["portfolios"] == 3).all()
    assert (table["variance"] >= 0).all()
    assert (tmp_path / "e" / "ensembles.png").stat().st_size > 5_000
    # Run again: every trader's run comes from the journal, the figures are the same.
    seen: list[int] = []
    again = run_ensembles(
        settings, largest=4, ensembles=3, folder=tmp_path / "e", jobs=2, on_run=seen.append
    )
    assert seen == []
    assert again["table"] == result["table"]
    # A one-trader portfolio is a plain run with the whole capital: the K = 1 portfolios
    # are the first runs of the Monte Carlo study with the same master seed.
    plain = run_montecarlo(settings, runs=3, folder=tmp_path / "plain")
    expected = (plain.runs["final_equity"] / settings.cycle.capital - 1.0).mean()
    assert table["mean_return"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_sizing_comparison_runs_each_sizing_on_the_same_seeds(
    market: Path, tmp_path: Path
) -> None:
    from tradewind.backtest.montecarlo import compare_sizing

    settings = load_config(environ=SETTINGS_ENV)
    result = compare_sizing(settings, runs=3, folder=tmp_path / "s", jobs=2)
    table = pd.DataFrame(result["table"])
    assert table["sizing"].tolist() == ["equal", "inverse_volatility", "kelly"]
    # Equal sizing on these seeds is exactly the plain Monte Carlo study (the default).
    plain = run_montecarlo(settings, runs=3, folder=tmp_path / "plain")
    assert table["median_return"].iloc[0] == pytest.approx(plain.runs["total_return"].median())
    assert len(set(table["median_return"])) > 1  # the sizing rule matters


def test_a_study_run_is_the_backtest_with_that_seed(market: Path, tmp_path: Path) -> None:
    # The study's lean path (shared candles, nominations computed once, figures without
    # tables) must report what `tradewind backtest --seed S` reports.
    from tradewind.backtest.run import run_backtest

    settings = load_config(environ={**SETTINGS_ENV, "TRADEWIND__CYCLE__NOMINATOR": "momentum"})
    study = run_montecarlo(settings, runs=3, folder=tmp_path / "m", jobs=2)
    for row in study.runs.itertuples():
        alone = run_backtest(settings.model_copy(update={"seed": row.seed}), save=False)
        m = alone.summary["metrics"]
        assert row.final_equity == m["final_equity"]
        assert row.total_return == m["total_return"]
        assert row.max_drawdown == m["max_drawdown"]
        assert row.sharpe == m["sharpe"] or (row.sharpe != row.sharpe and m["sharpe"] is None)
        assert row.trades_real == m["trades_real"]
    assert len(set(study.runs["final_equity"])) > 1


def test_fixed_nominations_answer_as_the_nominator_does(market: Path) -> None:
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.strategies.nominators import FixedNominations, make_nominator

    settings = load_config(environ=SETTINGS_ENV)
    panel = load_backtest_panel(settings)
    momentum = make_nominator("momentum", lookback="6h", volume_lookback="1d")
    rows = np.arange(30, len(panel.timestamps), 7)
    fixed = FixedNominations.of(momentum, panel, rows)
    rng = np.random.default_rng(0)
    for t in rows:
        assert np.array_equal(fixed.nominate(panel, int(t), rng), momentum.nominate(panel, t, rng))
    with pytest.raises(ConfigError, match="draws random numbers"):
        FixedNominations.of(make_nominator("random"), panel, rows)


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_config_error_naming_it(market: Path, tmp_path: Path) -> None:
    import dask

    settings = load_config(environ=SETTINGS_ENV)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConfigError, match=r"--cluster tcp://127\.0\.0\.1:9"),
    ):
        run_montecarlo(settings, runs=2, folder=tmp_path / "x", jobs=2, cluster="tcp://127.0.0.1:9")
    assert not list((tmp_path / "x" / "runs").glob("*.json"))


def test_ensemble_chart_of_portfolios_that_all_ended_alike(tmp_path: Path) -> None:
    # nominations that leave no choice: every portfolio the same, a variance of zero (the
    # suite turns matplotlib's warning about a log scale of zeros into an error)
    from tradewind.backtest.montecarlo import _plot_ensembles

    table = pd.DataFrame({"traders": [1, 2, 4], "variance": [0.0, 0.0, 0.0]})
    _plot_ensembles(table, tmp_path / "ensembles.png")
    assert (tmp_path / "ensembles.png").stat().st_size > 5_000
