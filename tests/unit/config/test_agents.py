from __future__ import annotations

from pathlib import Path

import pytest

from tradewind.config import load_config
from tradewind.errors import ConfigError

AGENTS = """
[[agents]]
name = "channel-run-long-1h"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = { lookback = 200, entry = "mid", goal = "edge" }
selection = { method = "quote_volume_1d", pairs = 100 }
models = { technical = "latest", risk = "latest" }

[[agents]]
name = "fractals-short-4h"
strategy = "trail_fractals"
side = "short"
timeframe = "4h"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradewind.toml"
    path.write_text(text)
    return path


def test_agents_are_declared_as_validated_toml(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, AGENTS), environ={})
    assert [a.name for a in s.agents] == ["channel-run-long-1h", "fractals-short-4h"]
    first = s.agents[0]
    assert (first.strategy, first.side, first.timeframe) == ("channel_run", "long", "1h")
    assert first.params["lookback"] == 200
    assert first.models == {"technical": "latest", "risk": "latest"}
    assert s.agents[1].selection.pairs == 100  # the default


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                'params = { lookback = 200, entry = "mid", goal = "edge" }',
                "params = { lookbak = 200 }",
            ),
            "no parameter 'lookbak' — did you mean 'lookback'",
        ),
        (('strategy = "trail_fractals"', 'strategy = "trail_fractal"'), "agents.1.strategy"),
        (('timeframe = "4h"', 'timeframe = "5h"'), "unknown timeframe '5h'"),
        (
            (
                'models = { technical = "latest", risk = "latest" }',
                'models = { technicl = "latest" }',
            ),
            "unknown model role 'technicl'",
        ),
        (
            (
                'models = { technical = "latest", risk = "latest" }',
                'models = { technical = "1234 5" }',
            ),
            'use "latest" or a model id',
        ),
        (('name = "fractals-short-4h"', 'name = "channel-run-long-1h"'), "appear twice"),
    ],
)
def test_agent_mistakes_name_the_agent_and_what_is_allowed(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in AGENTS
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, AGENTS.replace(old, new)), environ={})


def test_a_misspelt_selection_key_gets_a_suggestion(tmp_path: Path) -> None:
    text = AGENTS.replace("pairs = 100 }", "pairs = 100, metod = 1 }")
    with pytest.raises(ConfigError, match="did you mean 'agents.0.selection.method'"):
        load_config(write(tmp_path, text), environ={})
