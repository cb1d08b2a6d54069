"""Run the benchmarks and rewrite docs/performance.md with what was measured here."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bench_download, bench_panel

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def main() -> None:
    only = set(sys.argv[1:])
    sections = []
    if not only or "panel" in only:
        print("panel …", flush=True)
        sections.append(bench_panel.markdown(bench_panel.run()))
    if not only or "download" in only:
        print("download …", flush=True)
        sections.append(bench_download.markdown(bench_download.run()))
    head = f"""# Performance

Measured on this project's development machine; the machines are shared and noisy, so
compare the ratios, not the absolute times. Reproduce with:

```bash
make bench          # or: .venv/bin/python -m benchmarks [panel] [download]
```

Last run: {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC · Python {platform.python_version()} ·
{platform.machine()} · {os.cpu_count()} cores.

"""
    DOC.write_text(head + "\n".join(sections), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
