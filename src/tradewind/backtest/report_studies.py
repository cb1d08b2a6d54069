"""Report sections of study folders: Monte Carlo, ensembles, sizing, walk-forward and
risk-parameter optimisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradewind.backtest.charts import Chart, Panel, Trace, thin
from tradewind.backtest.report_base import Report, Section, read_json

__all__ = [
    "ensembles_report",
    "montecarlo_report",
    "optimize_report",
    "sizing_report",
    "walkforward_report",
]


def montecarlo_report(folder: Path, pair: str | None) -> Report:
    summary = read_json(folder / "summary.json")
    runs = pd.read_parquet(folder / "runs.parquet")
    rep = Report(
        f"Monte Carlo: {summary['runs']} runs ({summary['source']})",
        f"{folder.name} · master seed {summary['seed']}",
    )
    pct = pd.DataFrame(summary["percentiles"]).T
    pct.index.name = "figure"
    rep.sections.append(
        Section(
            "Percentiles",
            f"Probability of loss {summary['probability_of_loss']:.1%}; risk of ruin (a "
            f"drawdown of {summary['ruin_threshold']:.0%} or worse) {summary['risk_of_ruin']:.1%}.",
            table=pct.reset_index(),
        )
    )
    hist = Chart(
        "distributions",
        "Distributions over the runs",
        [
            Panel(
                [Trace("hist", "final equity", y=runs["final_equity"].to_numpy())],
                xtitle="final equity (quote)",
                ytitle="runs",
            ),
            Panel(
                [Trace("hist", "max drawdown", y=runs["max_drawdown"].to_numpy(), color="#D55E00")],
                xtitle="max drawdown",
                ytitle="runs",
            ),
            Panel(
                [
                    Trace(
                        "hist", "Sharpe", y=runs["sharpe"].astype(float).to_numpy(), color="#009E73"
                    )
                ],
                xtitle="annualised Sharpe",
                ytitle="runs",
            ),
        ],
    )
    # Histograms do not share an x axis: draw them as three charts of one panel each.
    for panel in hist.panels:
        name = panel.traces[0].name
        rep.sections.append(
            Section(
                f"Histogram of {name}",
                chart=Chart(
                    f"hist_{name.replace(' ', '_').lower()}",
                    f"{name} over {len(runs)} runs",
                    [panel],
                ),
            )
        )
    if (folder / "equity_bands.json").exists():
        bands = read_json(folder / "equity_bands.json")
        x = pd.DatetimeIndex(bands["time"]) if "time" in bands else np.arange(len(bands["p50"]))
        chart = Chart(
            "bands",
            "Equity percentile bands",
            [
                Panel(
                    [
                        Trace("band", "5–95 %", x, bands["p5"], y2=bands["p95"], color="#56B4E9"),
                        Trace("band", "25–75 %", x, bands["p25"], y2=bands["p75"], color="#0072B2"),
                        Trace("line", "median", x, bands["p50"], color="#000000"),
                    ],
                    ytitle="equity (quote)",
                )
            ],
        )
        rep.sections.append(
            Section("Equity bands", "Percentiles across runs at each time.", chart=chart)
        )
    rep.sections.append(Section("Every run", table=runs))
    return rep


def ensembles_report(folder: Path, pair: str | None) -> Report:
    data = read_json(folder / "ensembles.json")
    table = pd.DataFrame(data["table"])
    k = table["traders"].to_numpy()
    first = float(table["variance"].iloc[0])
    chart = Chart(
        "ensembles",
        "Variance of the portfolio return against the number of traders",
        [
            Panel(
                [
                    Trace("line", "measured", k, table["variance"].to_numpy()),
                    Trace("line", "1/K (independent traders)", k, first / k, color="#999999"),
                ],
                xtitle="traders K, each with 1/K of the capital",
                ytitle="variance",
                log_x=True,
                log_y=True,
            )
        ],
    )
    rep = Report("Ensembles (seed §5.2)", folder.name)
    rep.sections.append(
        Section(
            "Variance by ensemble size",
            f"{int(table['portfolios'].iloc[0])} portfolios per size.",
            chart=chart,
            table=table,
        )
    )
    return rep


def sizing_report(folder: Path, pair: str | None) -> Report:
    table = pd.DataFrame(read_json(folder / "sizing.json")["table"])
    med = table["median_return"].to_numpy()
    chart = Chart(
        "sizing",
        "Position sizing: median return with its 5–95 % range",
        [
            Panel(
                [
                    Trace(
                        "bar",
                        "median return",
                        list(table["sizing"]),
                        med,
                        error=(
                            med - table["p5_return"].to_numpy(),
                            table["p95_return"].to_numpy() - med,
                        ),
                    )
                ],
                ytitle="return",
                percent=True,
            )
        ],
    )
    rep = Report("Position sizing comparison (seed §5.3)", folder.name)
    rep.sections.append(
        Section(
            "Equal, inverse volatility, Kelly",
            "The same seeds for each sizing, so only the sizing differs.",
            chart=chart,
            table=table,
        )
    )
    return rep


def walkforward_report(folder: Path, pair: str | None) -> Report:
    data = read_json(folder / "walkforward.json")
    rep = Report(f"Walk-forward (train {data['train']}, test {data['test']})", folder.name)
    rows = []
    for m in data["models"]:
        o = m["oos"]
        rows.append(
            {
                "model": m["name"],
                "windows scored": f"{o['windows_scored']}/{o['windows']}",
                "rows": o["rows"],
                "AUC": o.get("roc_auc"),
                "AUC se": o.get("roc_auc_se"),
                "expectancy accepted": o.get("expectancy_accepted"),
                "expectancy all": o.get("expectancy_all"),
            }
        )
        windows = [w for w in m["windows"] if "auc" in w]
        if windows:
            chart = Chart(
                f"windows_{len(rows)}",
                f"{m['name']}: out-of-sample AUC per test window",
                [
                    Panel(
                        [
                            Trace(
                                "bar",
                                "AUC",
                                [str(i + 1) for i in range(len(windows))],
                                [w["auc"] for w in windows],
                            )
                        ],
                        xtitle="test window",
                        ytitle="AUC",
                    )
                ],
            )
            rep.sections.append(Section(m["name"], chart=chart))
    rep.sections.insert(0, Section("Out of sample", table=pd.DataFrame(rows)))
    for name in ("cycle", "session"):
        path = folder / f"equity_{name}.parquet"
        if path.exists():
            eq = pd.read_parquet(path)
            traces = []
            for col in eq.columns:
                x, y = thin(eq.index, eq[col].to_numpy())
                traces.append(Trace("line", col, x, y))
            rep.sections.append(
                Section(
                    f"Backtest with and without the models ({name})",
                    chart=Chart(
                        f"wf_equity_{name}",
                        "Equity: stitched out-of-sample model decisions against the baseline",
                        [Panel(traces, ytitle="equity (quote)")],
                    ),
                )
            )
    bts = [(m["name"], m["backtest"]) for m in data["models"] if m.get("backtest")]
    if data.get("session_backtest"):
        bts.append(("session of agents", data["session_backtest"]))
    if bts:
        rep.sections.append(
            Section(
                "Deflated Sharpe and PBO", table=pd.DataFrame([{"model": n, **b} for n, b in bts])
            )
        )
    return rep


def optimize_report(folder: Path, pair: str | None) -> Report:
    data = read_json(folder / "optimize.json")
    clusters = pd.DataFrame(data["clusters"])
    rep = Report(f"Risk-parameter optimisation ({data['objective']})", folder.name)
    rep.sections.append(Section("Per-cluster parameters", data.get("note", ""), table=clusters))
    if not clusters.empty:
        names = [str(c) for c in clusters["cluster"]]
        chart = Chart(
            "optimize",
            f"{data['objective']} per cluster: optimised against static parameters",
            [
                Panel(
                    [
                        Trace(
                            "bar",
                            "static, train",
                            names,
                            clusters["static_train"].to_numpy(),
                            color="#999999",
                        ),
                        Trace(
                            "bar",
                            "optimised, train",
                            names,
                            clusters["best_train"].to_numpy(),
                            color="#0072B2",
                        ),
                        Trace(
                            "bar",
                            "static, test",
                            names,
                            clusters["static_test"].to_numpy(),
                            color="#E69F00",
                        ),
                        Trace(
                            "bar",
                            "optimised, test",
                            names,
                            clusters["best_test"].to_numpy(),
                            color="#D55E00",
                        ),
                    ],
                    xtitle="regime cluster",
                    ytitle=data["objective"],
                )
            ],
        )
        rep.sections.append(Section("In and out of sample", chart=chart))
    if data.get("backtest"):
        rep.sections.append(
            Section("Backtest over the test period", table=pd.DataFrame([data["backtest"]]))
        )
    return rep
