"""Learning from its own decisions: paper/live outcomes from the trade book replace the
simulated labels of the same setups (and agree with them when nothing differed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from tests.unit.trading.test_scan import CONFIG, T0
from tradewind.config import load_config
from tradewind.data.panel import load_panel
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.engine.params import lifecycle_params
from tradewind.ml.apply import model_features
from tradewind.ml.pipeline import agent_records, own_outcomes
from tradewind.store.db import open_book
from tradewind.trading.scan import scan


def test_recorded_paper_outcomes_replace_the_simulated_labels(home: Path) -> None:
    market = generate_market(pairs=5, timeframe="1h", days=20, seed=8)
    write_market(market, CandleStore(home / "data", "synthetic"))
    (home / "tradewind.toml").write_text(CONFIG)
    settings = load_config(home / "tradewind.toml", environ={})
    now = T0 + pd.Timedelta(days=6, minutes=5)
    while now < T0 + pd.Timedelta(days=12):
        scan(settings, now=now, execute=True)
        now += pd.Timedelta(hours=6)
    panel = load_panel(CandleStore(home / "data", "synthetic"), None, "1h")
    params = lifecycle_params(settings.lifecycle, settings.fills, panel.timeframe)
    features = model_features(settings, panel)
    records = agent_records(settings, panel, features, params)
    before = records[0].value.copy()
    used = own_outcomes(settings, panel, "cr-long-1h", records[0])
    assert used > 3
    # Paper trades are the simulation, trade for trade: the recorded R equals the label's.
    np.testing.assert_allclose(records[0].value, before, rtol=1e-9, atol=1e-12)
    # A live fill that differed is learnt from as it happened.
    engine = open_book(settings.book_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE trades SET r_multiple = 7.5 WHERE agent = 'cr-long-1h' "
                "AND kind = 'real' AND status = 'closed'"
            )
        )
    engine.dispose()
    fresh = agent_records(settings, panel, features, params)[0]
    own_outcomes(settings, panel, "cr-long-1h", fresh)
    assert (fresh.value == 7.5).sum() >= 1
    assert (fresh.y[fresh.value == 7.5] == 1).all()
