"""Risk-parameter optimisation per regime cluster, and the cycle trader picking it up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.backtest.test_run import SMALL
from tradewind.backtest.optimize import run_optimize
from tradewind.backtest.run import run_backtest, run_inputs
from tradewind.config import load_config
from tradewind.config.models import CycleConfig, FillsConfig, LifecycleConfig
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.engine.params import THETA, RegimeParams
from tradewind.engine.records import Kind, Status
from tradewind.errors import ConfigError
from tradewind.ml.optimize import Nominations, objective_value, optimize_clusters
from tradewind.ml.registry import Registry

ENV = {**SMALL, "TRADEWIND__CYCLE__NOMINATOR": "momentum"}


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=90, seed=11),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def test_objectives_are_sharpe_and_kelly_growth() -> None:
    r = np.array([0.1, -0.05, 0.02, 0.0])
    assert objective_value(r, "sharpe") == pytest.approx(r.mean() / r.std(ddof=1))
    assert objective_value(r, "kelly") == pytest.approx(np.mean(np.log1p(r)))
    assert np.isnan(objective_value(r[:1], "sharpe"))


def test_each_cluster_gets_its_own_search_and_small_ones_stay_static(market: Path) -> None:
    from tradewind.backtest.run import load_backtest_panel

    settings = load_config(environ=ENV)
    panel = load_backtest_panel(settings)
    rows = np.arange(30, len(panel.timestamps) - 48, 24)
    t = np.repeat(rows, 6)
    pair = np.tile(np.arange(6), len(rows))
    keep = panel.mask[t, pair]
    t, pair = t[keep], pair[keep]
    cluster = np.where(pair < 5, 0, 1)  # cluster 1: one pair only, too few trades
    half = t < rows[len(rows) // 2]
    noms = Nominations(t, pair, cluster, half, ~half)
    kwargs = {
        "objective": "sharpe",
        "trials": 12,
        "horizon": 24 * 10,
        "seed": 5,
        "min_trades": 60,
    }
    lc, fills = LifecycleConfig(), FillsConfig()
    a = optimize_clusters(noms, panel.values, panel.mask, panel.timeframe, lc, fills, **kwargs)
    b = optimize_clusters(noms, panel.values, panel.mask, panel.timeframe, lc, fills, **kwargs)
    assert [r.cluster for r in a] == [0, 1]
    big, small = a
    assert big.theta is not None
    assert big.trials == 12
    assert big.best_train >= big.static_train  # the configured θ was the first trial
    assert big.theta == b[0].theta  # seeded: the same search twice
    assert 0.0 <= big.deflated_sharpe <= 1.0
    assert small.theta is None  # too few training trades: the configured θ stays
    assert small.train_trades < 60


def _with_regime_model(settings: object, home: Path) -> str:
    """Register and promote a small real regime model (k-means) as `tradewind train` would."""
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.features.compute import feature_signature
    from tradewind.ml.apply import model_features
    from tradewind.ml.regime import fit_regimes, regime_columns

    panel = load_backtest_panel(settings)  # type: ignore[arg-type]
    features = model_features(settings, panel)  # type: ignore[arg-type]
    cols = regime_columns(features.specs)
    X = features.values[200::6].reshape(-1, features.values.shape[-1])[:, cols].astype(float)
    fit = fit_regimes(X, [features.names[c] for c in cols], 2, 0)
    with Registry(home / "models", f"sqlite:///{(home / 'tradebook.sqlite').as_posix()}") as reg:
        card = reg.register(
            fit.model,
            role="regime",
            scope="cycle",
            features=fit.features,
            params={"k": fit.k},
            feature_signature=feature_signature(features.specs),
            promote=True,
        )
    return card.id


def test_optimize_registers_a_set_keyed_by_the_regime_model_and_backtests_pick_it_up(
    market: Path,
) -> None:
    settings = load_config(environ=ENV)
    regime = _with_regime_model(settings, market)
    result = run_optimize(
        settings, folder=market / "studies" / "opt", trials=8, min_trades=20, train_fraction=0.6
    )
    assert result["regime_model"] == regime
    assert {c["cluster"] for c in result["clusters"]} <= {0, 1}
    assert (market / "studies" / "opt" / "optimize.json").exists()
    from tradewind.backtest.report import write_report

    page = write_report(market / "studies" / "opt", png=False).read_text(encoding="utf-8")
    assert 'id="chart-optimize"' in page
    assert result["set_id"] in page or "Per-cluster parameters" in page
    b = result["backtest"]
    assert {"static_return", "optimised_return"} <= set(b)
    with Registry(market / "models", settings.book_url) as reg:
        card = reg.get(result["set_id"])
        assert card.role == "lifecycle"
        assert card.params["regime_model"] == regime
        table = np.array(reg.load(card))
        assert table.shape == (2, len(THETA))
        assert (card.promoted_at is not None) == result["promoted"]
        reg.promote(card.id)  # whatever it scored: check the pickup
    tuned = [c for c in result["clusters"] if c["take_profit"] is not None]
    assert tuned, result["clusters"]

    run = run_backtest(settings, save=False)
    assert run.summary["lifecycle"].startswith(f"lifecycle: optimised set {card.id}")
    inputs = run_inputs(settings)
    assert inputs.regime_params is not None
    assert inputs.regime_params.regime_model == regime
    static = run_backtest(
        load_config(environ={**ENV, "TRADEWIND__CYCLE__RISK_PARAMS": "static"}), save=False
    )
    assert "cycle.risk_params = static" in static.summary["lifecycle"]
    assert not run.trades.equals(static.trades)  # the parameters changed the trades

    # A newly trained regime model numbers its clusters anew: the set no longer applies.
    _with_regime_model(settings, market)
    again = run_backtest(settings, save=False)
    assert "was optimised for regime model" in again.summary["lifecycle"]
    named = load_config(environ={**ENV, "TRADEWIND__CYCLE__RISK_PARAMS": card.id})
    with pytest.raises(ConfigError, match="run `tradewind optimize` again"):
        run_backtest(named, save=False)


def test_a_nomination_trades_with_its_regimes_parameters(market: Path) -> None:
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.strategies.nominators import make_nominator
    from tradewind.trading.cycle import CycleTrader, cycle_decision_rows

    settings = load_config(environ=ENV)
    panel = load_backtest_panel(settings)
    nominator = make_nominator("random", top_n=4)
    cycle = CycleConfig(pairs_per_cycle=3, dry_run_loss_threshold=0)
    rows = cycle_decision_rows(panel, cycle, nominator)
    clusters = np.zeros((len(rows), len(panel.symbols)), dtype=np.int64)
    clusters[:, ::2] = 1  # even pairs in cluster 1
    theta = np.full((2, len(THETA)), np.nan)
    theta[1] = [1.002, 0.95, 6, 1.03, 0.97, 1.01, 0.99]
    params = RegimeParams("set", None, rows, clusters, theta)
    trader = CycleTrader(
        panel,
        cycle=cycle,
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(slippage=0.0),
        nominator=nominator,
        rng=np.random.default_rng(1),
        regime_params=params,
    )
    trader.run()
    tr = trader.trades[: trader.n_trades]
    entered = tr[(tr["entry_t"] >= 0) & (tr["legs"] == 1) & (tr["parent"] < 0)]
    odd, even = entered[entered["pair"] % 2 == 1], entered[entered["pair"] % 2 == 0]
    assert len(odd) > 5
    assert len(even) > 5
    # Cluster 1 (even pairs): its own stop, target and window; cluster 0: the configured.
    assert np.allclose(even["initial_stop"], even["entry_price"] * 0.97)
    assert np.allclose(even["target"], even["entry_price"] * 1.03)
    assert np.allclose(even["limit"], even["p0"] * 1.002)
    assert (even["expiry_t"] - even["nominated_t"] == 7).all()
    assert np.allclose(odd["initial_stop"], odd["entry_price"] * 0.983)
    assert np.allclose(odd["target"], odd["entry_price"] * 1.52)
    closed = even[(even["status"] == Status.CLOSED) & (even["kind"] == Kind.REAL)]
    assert (closed["exit_reason"] == 3).any()  # some reached the near target of 1.03
