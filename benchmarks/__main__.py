"""Run the benchmarks and update docs/performance.md with what was measured here.

``python -m benchmarks`` runs them all; ``python -m benchmarks engine`` (any subset of the
names below) runs only those and replaces only their sections: the others stay as they
were, with the date they were measured. Each section sits between
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` markers.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_demo,
    bench_download,
    bench_engine,
    bench_features,
    bench_montecarlo,
    bench_node,
    bench_panel,
    bench_session,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


class _Bench:
    def __init__(self, module: Any, heading: str) -> None:
        self.run: Callable[[], Any] = module.run
        self.markdown: Callable[[Any], str] = module.markdown
        self.heading = heading  # how the section's title starts (files written before markers)


#: In the order of the document.
BENCHMARKS = {
    "panel": _Bench(bench_panel, "## Panel loading"),
    "download": _Bench(bench_download, "## Data download"),
    "engine": _Bench(bench_engine, "## Engine speed"),
    "session": _Bench(bench_session, "## Modular trader"),
    "features": _Bench(bench_features, "## Features and training"),
    "montecarlo": _Bench(bench_montecarlo, "## Monte Carlo"),
    "node": _Bench(bench_node, "## Live node"),
    "demo": _Bench(bench_demo, "## The demo"),
}

_MARKED = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n?", re.DOTALL)
_LAST_RUN = re.compile(r"Last run: (.+?) UTC")


def _machine() -> str:
    return f"Python {platform.python_version()} · {platform.machine()} · {os.cpu_count()} cores"


def existing_sections(text: str) -> dict[str, str]:
    """The sections of a performance.md, by benchmark name (marked or, if older, by title)."""
    found = {m.group(1): m.group(2) for m in _MARKED.finditer(text)}
    if found:
        return found
    # Written before the markers: one section per known title, stamped with the old date.
    stamp = _LAST_RUN.search(text)
    note = f"\n_Measured {stamp.group(1)} UTC._\n" if stamp else ""
    parts = re.split(r"\n(?=## )", text)
    for part in parts:
        for name, bench in BENCHMARKS.items():
            if part.startswith(bench.heading):
                found[name] = part.rstrip("\n") + "\n" + note
    return found


def render(sections: dict[str, str], now: datetime) -> str:
    head = f"""# Performance

Measured on this project's development machine; the machines are shared and noisy, so
compare the ratios, not the absolute times. Reproduce with:

```bash
make bench          # [benchmark] or: .venv/bin/python -m benchmarks {" ".join(BENCHMARKS)}
```

Each section says when it was measured; running a subset of the benchmarks replaces only
their sections. Last run: {now:%Y-%m-%d %H:%M} UTC · {_machine()}.

"""
    body = "".join(
        f"<!-- bench:{name} -->\n{sections[name].rstrip()}\n<!-- /bench:{name} -->\n\n"
        for name in BENCHMARKS
        if name in sections
    )
    return head + body.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    names = sys.argv[1:] if argv is None else argv
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    only = set(names) or set(BENCHMARKS)
    sections = existing_sections(DOC.read_text(encoding="utf-8")) if DOC.is_file() else {}
    for name, bench in BENCHMARKS.items():
        if name not in only:
            continue
        print(f"{name} …", flush=True)
        now = datetime.now(tz=UTC)
        stamp = f"\n_Measured {now:%Y-%m-%d %H:%M} UTC · {_machine()}._\n"
        sections[name] = bench.markdown(bench.run()).rstrip("\n") + "\n" + stamp
    DOC.write_text(render(sections, datetime.now(tz=UTC)), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
