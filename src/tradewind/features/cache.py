"""Features cached per data fingerprint and feature set: computed once, read back in a blink.

The key is the panel's content hash (exactly these candles) and the feature set's signature
(names, order, warm-ups), so new candles, another pair list or a changed feature all miss
the cache instead of serving stale numbers. Files are ``.npz`` of plain arrays, written to a
temporary name and renamed into place (a crash leaves no half file), read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tradewind.data.panel import Panel, data_fingerprint
from tradewind.features.base import FeatureSpec, PairBlock, PanelBlock
from tradewind.features.compute import Features, compute_features, feature_signature

__all__ = ["cached_features", "cache_key"]


def cache_key(panel: Panel, specs: Sequence[FeatureSpec]) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(data_fingerprint(panel).encode())
    digest.update(feature_signature(specs).encode())
    return digest.hexdigest()


def cached_features(
    panel: Panel,
    cache_dir: Path | None,
    pair_blocks: Sequence[PairBlock] | None = None,
    panel_blocks: Sequence[PanelBlock] | None = None,
) -> Features:
    """:func:`compute_features`, served from ``cache_dir`` when the same candles and the
    same feature set were computed before (``cache_dir`` None: no cache)."""
    if pair_blocks is None or panel_blocks is None:
        from tradewind.features.registry import default_blocks

        pair_blocks, panel_blocks = default_blocks(panel.timeframe.name)
    specs = tuple(s for b in pair_blocks for s in b.specs) + tuple(
        s for b in panel_blocks for s in b.specs
    )
    if cache_dir is None:
        return compute_features(panel, pair_blocks, panel_blocks)
    path = Path(cache_dir) / f"{cache_key(panel, specs)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as archive:
            names = [str(n) for n in archive["names"]]
            if names == [s.name for s in specs]:
                return Features(
                    specs, panel.timestamps, panel.symbols, archive["values"], panel.timeframe.name
                )
    features = compute_features(panel, pair_blocks, panel_blocks)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".features-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, values=features.values, names=np.array(features.names, dtype=str))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return features
