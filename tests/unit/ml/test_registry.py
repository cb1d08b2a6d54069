"""The model registry: skops artefacts, content ids, latest, hash and feature checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from tradewind.errors import ConfigError, StateError
from tradewind.ml.registry import ModelCard, Registry

FEATURES = ["a", "b", "c"]


def _model(seed: int) -> RandomForestClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.1 * rng.normal(size=200) > 0).astype(int)
    return RandomForestClassifier(n_estimators=5, random_state=seed).fit(x, y)


def _assert_a_changed_artefact_is_refused(registry: Registry, card: ModelCard) -> None:
    path = registry.root / card.path
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(StateError, match="does not match the registry's hash"):
        registry.load(card)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    with Registry(tmp_path / "models", f"sqlite:///{tmp_path / 'book.sqlite'}") as reg:
        yield reg  # type: ignore[misc]


def test_register_promote_and_load_round_trip(registry: Registry) -> None:
    model = _model(1)
    card = registry.register(
        model, role="technical", scope="agent-a", features=FEATURES, metrics={"auc": 0.7}
    )
    assert len(card.id) == 16
    assert registry.resolve("latest", "technical", "agent-a", required=False) is None
    with pytest.raises(ConfigError, match="no promoted technical model for 'agent-a'"):
        registry.resolve("latest", "technical", "agent-a")
    registry.promote(card.id)
    latest = registry.resolve("latest", "technical", "agent-a")
    assert latest is not None
    assert latest.id == card.id
    loaded = registry.load(latest, FEATURES)
    x = np.random.default_rng(9).normal(size=(50, 3))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert latest.metrics == {"auc": 0.7}
    assert latest.versions["scikit-learn"]
    # A newer model is not latest until promoted; then it is.
    newer = registry.register(_model(2), role="technical", scope="agent-a", features=FEATURES)
    assert registry.resolve("latest", "technical", "agent-a").id == card.id  # type: ignore[union-attr]
    registry.promote(newer.id)
    assert registry.resolve("latest", "technical", "agent-a").id == newer.id  # type: ignore[union-attr]
    # An id of another role or scope is refused.
    with pytest.raises(ConfigError, match="not a risk model"):
        registry.resolve(card.id, "risk", "agent-a")


def test_a_changed_artefact_or_other_features_are_refused(registry: Registry) -> None:
    card = registry.register(_model(3), role="risk", scope="x", features=FEATURES, promote=True)
    with pytest.raises(StateError, match=r"missing \['c'\]"):
        registry.load(card, ["a", "b"])
    with pytest.raises(StateError, match="other order"):
        registry.load(card, ["b", "a", "c"])
    _assert_a_changed_artefact_is_refused(registry, card)


def test_prune_keeps_the_newest_and_latest(registry: Registry) -> None:
    cards = [
        registry.register(_model(s), role="regime", scope="cycle", features=FEATURES)
        for s in range(5)
    ]
    registry.promote(cards[0].id)  # the oldest is latest
    gone = registry.prune("regime", "cycle", keep=2)
    left = {c.id for c in registry.list(role="regime", scope="cycle")}
    assert left == {cards[4].id, cards[3].id, cards[0].id}
    assert set(gone) == {cards[1].id, cards[2].id}
    assert not (registry.root / cards[1].path).exists()


def test_an_artefact_is_parsed_once_a_process_and_still_checked_at_every_load(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skops.io as sio

    card = registry.register(_model(4), role="technical", scope="y", features=FEATURES)
    parsed = []
    real = sio.loads
    monkeypatch.setattr(sio, "loads", lambda *a, **k: parsed.append(1) or real(*a, **k))
    first = registry.load(card, FEATURES)
    assert registry.load(card, FEATURES) is first  # a node's agents load it at every bar
    assert len(parsed) == 1
    # the cache never hides a changed artefact or a wrong feature list
    with pytest.raises(StateError, match="other order"):
        registry.load(card, ["c", "b", "a"])
    _assert_a_changed_artefact_is_refused(registry, card)


def test_a_registry_over_its_callers_engine_leaves_it_open(registry: Registry) -> None:
    from sqlalchemy import text

    card = registry.register(_model(5), role="risk", scope="z", features=FEATURES, promote=True)
    with Registry(registry.root, registry.url, engine=registry.engine) as borrowed:
        assert borrowed.resolve("latest", "risk", "z").id == card.id  # type: ignore[union-attr]
    with registry.engine.connect() as conn:  # the owner's engine still works
        assert conn.execute(text("SELECT count(*) FROM models")).scalar_one() == 1
