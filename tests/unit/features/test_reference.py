"""The feature reference in docs/models.md is generated from the feature specs."""

from __future__ import annotations

from pathlib import Path

from tradewind.features.reference import features_markdown
from tradewind.features.registry import all_specs

MODELS_MD = Path(__file__).resolve().parents[3] / "docs" / "models.md"
MARKER = "## Feature reference\n\n"


def _reference_section() -> str:
    text = MODELS_MD.read_text(encoding="utf-8")
    assert MARKER in text, "docs/models.md has no '## Feature reference' section"
    return text.split(MARKER, 1)[1]


def test_the_feature_reference_in_the_docs_is_generated_from_the_specs() -> None:
    assert _reference_section() == features_markdown(), (
        "regenerate the feature reference at the end of docs/models.md: .venv/bin/python -c "
        "'from tradewind.features.reference import features_markdown; "
        'print(features_markdown(), end="")\''
    )


def test_the_feature_reference_names_every_feature() -> None:
    section = _reference_section()
    missing = [s.name for s in all_specs() if f"| `{s.name}` |" not in section]
    assert missing == []


def test_the_summary_line_counts_every_feature() -> None:
    text = features_markdown()
    assert text.startswith(f"{len(all_specs())} features: ")
