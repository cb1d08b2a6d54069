"""Tradewind: machine-learning crypto trading with one engine for backtest, paper and live.

The public Python API mirrors the CLI verbs; see ``docs/`` for the guides.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

__version__ = "0.1.0"

__all__ = ["__version__"]

#: Packages whose modules hold numba kernels compiled with ``cache=True``.
_KERNEL_PACKAGES = ("engine", "portfolio", "strategies", "trading")


def _numba_cache_dir() -> None:
    """Key numba's on-disk cache by the kernels' source, so no stale machine code runs.

    Numba checks a cached function against its *own* file only: after ``lifecycle.py``
    changes, the cycle kernel in another file would load its old compiled copy with the
    old rules inlined. A cache folder named after a hash of every kernel module makes any
    change start from a fresh cache. A user's ``NUMBA_CACHE_DIR`` stays the root.
    """
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for package in _KERNEL_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    base = os.environ.get("TRADEWIND_NUMBA_CACHE_ROOT") or os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(cache_home) / "tradewind")
    os.environ.setdefault("TRADEWIND_NUMBA_CACHE_ROOT", base)
    folder = Path(base) / f"numba-{__version__}-{digest.hexdigest()[:16]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir()) / "tradewind-numba" / folder.name
        folder.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before us: its config has read the environment already
        numba.config.CACHE_DIR = str(folder)


_numba_cache_dir()
