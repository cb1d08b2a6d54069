"""The model registry: skops artefacts on disk, their metadata in the trade book.

A model's id is the hash of its artefact and metadata, so nobody types or edits ids: a
config names ``latest`` (the newest *promoted* model of a role and scope) or an id that
``tradewind models list`` printed. Loading checks the file's SHA-256 against the registry,
refuses any type in the artefact outside scikit-learn / imbalanced-learn / numpy (skops
never unpickles arbitrary objects), and checks the feature order the caller will feed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from tradewind.errors import ConfigError, StateError
from tradewind.store.db import open_book, upgrade
from tradewind.store.models import Base

__all__ = ["ModelCard", "Registry", "TRUSTED_PREFIXES"]

MODELS = Base.metadata.tables["models"]

#: Types an artefact may contain beyond skops' own safe set: estimators and their parts.
TRUSTED_PREFIXES = ("sklearn.", "imblearn.", "numpy.", "builtins.", "collections.")


class _Loaded:
    """The estimators loaded in this process, by the SHA-256 of their artefact: a node's
    agents score their setups again at every bar close, and parsing a forest's artefact
    (about a second) dwarfs reading and hashing its bytes. Bounded (least recently used
    out first) and shared by threads, as the node's retraining runs on one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str) -> Any | None:
        with self._lock:
            model = self._items.get(sha256)
            if model is not None:
                self._items.move_to_end(sha256)
            return model

    def put(self, sha256: str, model: Any) -> None:
        with self._lock:
            self._items[sha256] = model
            self._items.move_to_end(sha256)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_LOADED = _Loaded(size=16)


@dataclass
class ModelCard:
    """Everything known about one registered model."""

    id: str
    role: str
    scope: str
    kind: str
    created_at: datetime
    features: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    promoted_at: datetime | None = None
    train_start: datetime | None = None
    train_end: datetime | None = None
    data_fingerprint: str | None = None
    feature_signature: str | None = None
    path: str = ""
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("created_at", "promoted_at", "train_start", "train_end"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out


def _versions() -> dict[str, str]:
    import numpy
    import sklearn
    import skops

    from tradewind import __version__

    out = {
        "python": platform.python_version(),
        "tradewind": __version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
    }
    try:
        import imblearn

        out["imbalanced-learn"] = imblearn.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    return out


def _card(row: Any) -> ModelCard:
    return ModelCard(
        id=row["id"],
        role=row["role"],
        scope=row["scope"],
        kind=row["kind"],
        created_at=row["created_at"],
        promoted_at=row["promoted_at"],
        train_start=row["train_start"],
        train_end=row["train_end"],
        data_fingerprint=row["data_fingerprint"],
        feature_signature=row["feature_signature"],
        features=json.loads(row["features"]),
        params=json.loads(row["params"]),
        metrics=json.loads(row["metrics"]),
        versions=json.loads(row["versions"]),
        path=row["path"],
        sha256=row["sha256"],
    )


class Registry:
    """Models of one home: artefacts under ``root``, metadata in the trade book at ``url``
    — or, with ``engine``, in a trade book its caller holds open (and brought up to
    date): that engine is neither migrated nor disposed here."""

    def __init__(self, root: Path, url: str, *, engine: Engine | None = None) -> None:
        self.root = Path(root)
        self.url = url
        self._owned = engine is None
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            upgrade(url)
            engine = open_book(url)
        self.engine = engine

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ write

    def register(
        self,
        model: Any,
        *,
        role: str,
        scope: str,
        features: Sequence[str],
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        train_start: datetime | None = None,
        train_end: datetime | None = None,
        data_fingerprint: str | None = None,
        feature_signature: str | None = None,
        promote: bool = False,
    ) -> ModelCard:
        """Save ``model`` (skops) and record it; its id is a hash of artefact and metadata.

        The artefact is written to a temporary file and renamed into place before the
        registry row is committed, so a crash leaves either no model or a whole one.
        """
        import skops.io as sio

        blob = sio.dumps(model, compression=8)
        sha = hashlib.sha256(blob).hexdigest()
        created = datetime.now(UTC)
        meta = {
            "role": role,
            "scope": scope,
            "features": list(features),
            "params": dict(params or {}),
            "created_at": created.isoformat(),
        }
        digest = hashlib.blake2b(digest_size=8)
        digest.update(blob)
        digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
        model_id = digest.hexdigest()
        rel = f"{role}/{scope}/{model_id}.skops"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".model-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        card = ModelCard(
            id=model_id,
            role=role,
            scope=scope,
            kind=type(model).__name__,
            created_at=created,
            features=list(features),
            params=dict(params or {}),
            metrics=dict(metrics or {}),
            versions=_versions(),
            promoted_at=created if promote else None,
            train_start=train_start,
            train_end=train_end,
            data_fingerprint=data_fingerprint,
            feature_signature=feature_signature,
            path=rel,
            sha256=sha,
        )
        row = card.to_dict()
        for k in ("created_at", "promoted_at", "train_start", "train_end"):
            row[k] = getattr(card, k)
        for k in ("features", "params", "metrics", "versions"):
            row[k] = json.dumps(row[k], sort_keys=True, default=str)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(MODELS).values(row))
        except SQLAlchemyError as exc:
            raise StateError(f"registering model {model_id} failed: {exc}") from exc
        return card

    def promote(self, model_id: str) -> ModelCard:
        """Make ``model_id`` the ``latest`` of its role and scope (from now on)."""
        card = self.get(model_id)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(update(MODELS).where(MODELS.c.id == card.id).values(promoted_at=now))
        card.promoted_at = now
        return card

    def prune(self, role: str, scope: str, keep: int = 3) -> list[str]:
        """Delete all but the ``keep`` newest models of a role and scope — never the
        current ``latest``; return the ids removed."""
        cards = self.list(role=role, scope=scope)
        latest = self.resolve("latest", role, scope, required=False)
        keep_ids = {c.id for c in cards[:keep]} | ({latest.id} if latest else set())
        gone = [c for c in cards if c.id not in keep_ids]
        with self.engine.begin() as conn:
            for c in gone:
                conn.execute(delete(MODELS).where(MODELS.c.id == c.id))
        for c in gone:
            (self.root / c.path).unlink(missing_ok=True)
        return [c.id for c in gone]

    # ------------------------------------------------------------------- read

    def list(self, role: str | None = None, scope: str | None = None) -> list[ModelCard]:
        """Registered models, newest first."""
        stmt = select(MODELS)
        if role is not None:
            stmt = stmt.where(MODELS.c.role == role)
        if scope is not None:
            stmt = stmt.where(MODELS.c.scope == scope)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(MODELS.c.created_at.desc())).mappings().all()
        return [_card(r) for r in rows]

    def get(self, model_id: str) -> ModelCard:
        with self.engine.connect() as conn:
            row = conn.execute(select(MODELS).where(MODELS.c.id == model_id)).mappings().first()
        if row is None:
            raise ConfigError(
                f"no model with id {model_id!r} in the registry; `tradewind models list` "
                "shows the ids"
            )
        return _card(row)

    def resolve(
        self, ref: str, role: str, scope: str, *, required: bool = True
    ) -> ModelCard | None:
        """``latest`` (newest promoted of role and scope) or an id, checked to fit them."""
        if ref != "latest":
            card = self.get(ref)
            if (card.role, card.scope) != (role, scope):
                raise ConfigError(
                    f"model {ref} is a {card.role} model of {card.scope!r}, not a {role} "
                    f"model of {scope!r}"
                )
            return card
        promoted = [c for c in self.list(role=role, scope=scope) if c.promoted_at is not None]
        if promoted:
            return max(promoted, key=lambda c: c.promoted_at or c.created_at)
        if required:
            raise ConfigError(
                f"no promoted {role} model for {scope!r}: run `tradewind train` (or name a "
                "model id)"
            )
        return None

    def load(self, card: ModelCard, features: Sequence[str] | None = None) -> Any:
        """The estimator of ``card``, after checking its hash, its types and — when
        ``features`` are given — that they are exactly the model's, in its order.

        The artefact is read and hashed at every call; an artefact already parsed in this
        process (the same hash) is not parsed again, and the same estimator is returned:
        treat it as read-only (predict, never fit or set its parameters)."""
        import skops.io as sio

        path = self.root / card.path
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise StateError(f"model {card.id}: artefact {path} unreadable: {exc}") from exc
        if hashlib.sha256(blob).hexdigest() != card.sha256:
            raise StateError(
                f"model {card.id}: {path} does not match the registry's hash (changed or "
                "corrupt); retrain or prune it"
            )
        if features is not None and list(features) != card.features:
            want, got = card.features, list(features)
            missing = [f for f in want if f not in got]
            extra = [f for f in got if f not in want]
            raise StateError(
                f"model {card.id} was trained on {len(want)} features and is given "
                f"{len(got)}: missing {missing[:5]}, unexpected {extra[:5]}"
                + (" (same names, other order)" if not missing and not extra else "")
            )
        model = _LOADED.get(card.sha256)
        if model is None:
            types = sio.get_untrusted_types(data=blob)
            foreign = [t for t in types if not t.startswith(TRUSTED_PREFIXES)]
            if foreign:
                raise StateError(f"model {card.id}: refusing unexpected types {foreign}")
            model = sio.loads(blob, trusted=types)
            _LOADED.put(card.sha256, model)
        return model

    def table(self) -> pd.DataFrame:
        """The registry as a table (for ``tradewind models list``)."""
        rows = [c.to_dict() for c in self.list()]
        columns = ["id", "role", "scope", "kind", "created_at", "promoted_at", "metrics"]
        return pd.DataFrame([{k: r[k] for k in columns} for r in rows], columns=columns)
