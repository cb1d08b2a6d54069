"""The ``--live`` gate: real orders only when asked for twice and keyed from the
environment; paper is what runs otherwise."""

from __future__ import annotations

import os

from tradewind.config import Settings
from tradewind.errors import ConfigError

__all__ = ["KEY_VARS", "live_gate"]

#: Where the keys must come from: the environment, never a file.
KEY_VARS = ("TRADEWIND__EXCHANGE__API_KEY", "TRADEWIND__EXCHANGE__API_SECRET")


def live_gate(settings: Settings, *, live: bool, testnet: bool) -> None:
    """Refuse ``--live`` unless the config says ``live.mode = "live"``, both keys are set
    in the environment, and ``--testnet`` agrees with ``exchange.testnet``; every reason
    is named at once. Without ``--live`` nothing is checked: the node trades on paper."""
    if not live:
        return
    problems: list[str] = []
    if settings.live.mode != "live":
        problems.append(
            f'the config says live.mode = "{settings.live.mode}" (set it to "live" as well)'
        )
    missing = [v for v in KEY_VARS if not os.environ.get(v)]
    if missing:
        problems.append(f"{' and '.join(missing)} not set in the environment")
    if testnet != settings.exchange.testnet:
        said = "given" if testnet else "not given"
        problems.append(
            f"--testnet is {said} but exchange.testnet = {str(settings.exchange.testnet).lower()}"
            ": say the same in both"
        )
    if problems:
        raise ConfigError("refusing to trade live: " + "; ".join(problems))
