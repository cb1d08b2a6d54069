"""A saved state that does not grow with the run: rows that can no longer change are
archived once, in chunks, and the state row keeps only what follows them.

A trader's state holds arrays that only ever grow — trades, ledger entries, an equity
curve. Written whole and compressed on every tick, a state of a node that runs for months
costs more each tick. The rows that can no longer change (the leading finished trades,
the ledger and equity so far) go into a chunk once enough of them gather (the table
``state_chunks``, in the tick's own transaction); a restart puts the chunks back in front.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tradewind.engine.records import Status
from tradewind.errors import StateError
from tradewind.store.repository import TradeBook
from tradewind.trading.state import dump_state, load_state

__all__ = ["StateArchive", "changeable_trades", "frozen_trades"]

Chunk = tuple[str, int, bytes]


def changeable_trades(trades: np.ndarray) -> np.ndarray:
    """The trades a step can still change: pending or active (by status — a nomination
    joins the kernel's open list only at the next candle), or followed as tracked trades."""
    live = (trades["status"] == Status.PENDING) | (trades["status"] == Status.ACTIVE)
    out: np.ndarray = np.flatnonzero(live | (trades["track"] == 1))
    return out


def frozen_trades(trades: np.ndarray) -> int:
    """How many leading trades can no longer change: finished, and not followed as a
    tracked trade any more."""
    final = ((trades["status"] == Status.CLOSED) | (trades["status"] == Status.EXPIRED)) & (
        trades["track"] != 1
    )
    return int(np.argmin(final)) if not final.all() else len(final)


class StateArchive:
    """The archived parts of saved state ``name``: ``parts`` maps a part to its arrays
    (cut at the same row), ``rows`` to how many rows a chunk gathers."""

    def __init__(
        self,
        book: TradeBook,
        name: str,
        parts: Mapping[str, tuple[str, ...]],
        rows: Mapping[str, int],
    ) -> None:
        self.book, self.name = book, name
        self.parts, self.rows = dict(parts), dict(rows)
        self.archived = dict.fromkeys(self.parts, 0)  #: rows of each part in chunks
        self.chunks = dict.fromkeys(self.parts, 0)  #: chunks of each part written

    def whole(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``state`` (as saved) made whole again: its archived chunks put before its rows."""
        chunks = self.book.state_chunks(self.name)
        archived = state.get("archived", np.zeros(len(self.parts), dtype=np.int64))
        for (part, keys), want in zip(self.parts.items(), archived.tolist(), strict=True):
            pieces = [load_state(b) for b in chunks.get(part, [])]
            got = sum(len(c[keys[0]]) for c in pieces)
            if got != want:
                raise StateError(
                    f"{self.name!r}: the trade book holds {got} archived {part} rows, its "
                    f"state says {want}; the book was changed by hand or is damaged"
                )
            for key in keys:
                state[key] = np.concatenate([*(c[key] for c in pieces), state[key]])
            self.archived[part], self.chunks[part] = int(want), len(pieces)
        return state

    def cut(
        self, state: dict[str, np.ndarray], limits: Mapping[str, int]
    ) -> tuple[list[Chunk], dict[str, int]]:
        """Cut from ``state`` what is archived — a new chunk of a part once ``limits``
        (its rows that can no longer change) are a chunk's worth past the archive — and
        return the new chunks and the archived rows after them (for :meth:`saved`)."""
        archived = dict(self.archived)
        chunks: list[Chunk] = []
        for part, keys in self.parts.items():
            done, upto = archived[part], limits[part]
            if upto - done >= self.rows[part]:
                piece = dump_state({key: state[key][done:upto] for key in keys})
                chunks.append((part, self.chunks[part], piece))  # one a part a save
                archived[part] = upto
            for key in keys:
                state[key] = state[key][archived[part] :]
        state["archived"] = np.array([archived[p] for p in self.parts], dtype=np.int64)
        return chunks, archived

    def saved(self, chunks: list[Chunk], archived: dict[str, int]) -> None:
        """The chunks of :meth:`cut` are committed."""
        for part, _seq, _payload in chunks:
            self.chunks[part] += 1
        self.archived = archived
