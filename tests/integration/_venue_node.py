"""A live replay node for the venue kill test, run in its own process: the node of
``tradewind run --replay`` with its orders going to the local exchange at ``--api-url``
(keys and settings from the environment, as ``--live`` takes them) and a simulated clock
that it shares with the exchange through a file (the exchange runs in the test's process).

    python tests/integration/_venue_node.py CLOCK_FILE START END NAME
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from tradewind.config import load_config
from tradewind.data.sources.exchange import make_exchange
from tradewind.live.clock import SimClock
from tradewind.live.run import replay
from tradewind.venues.ccxt_venue import CcxtVenue


class SharedClock(SimClock):
    """A simulated clock that tells the exchange each time it moves."""

    def __init__(self, start: pd.Timestamp, path: Path) -> None:
        super().__init__(start)
        self.path = path

    def set(self, when: pd.Timestamp) -> None:
        super().set(when)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(int(self.now().value // 1_000_000)))
        os.replace(tmp, self.path)


def main() -> None:
    clock_file, start, end, name = sys.argv[1:5]
    settings = load_config()
    t0, t1 = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    clock = SharedClock(t0, Path(clock_file))
    exchange = make_exchange(settings.exchange)
    exchange.enableRateLimit = False  # the clock is simulated: no pause is real
    venue = CcxtVenue(exchange, attempts=12, lookups=12, sleep=lambda _s: None)
    result = replay(settings, t0, t1, name=name, venue=venue, clock=clock)
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main()
