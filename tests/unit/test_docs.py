"""The reference docs cover every command and every configuration key."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from tradewind.cli.app import app
from tradewind.config.models import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands() -> list[str]:
    import typer.main

    root = typer.main.get_command(app)
    names = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
    return names


def test_cli_reference_names_every_command() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = [c for c in _commands() if f"tradewind {c}" not in text]
    assert missing == []


def test_cli_reference_is_generated_from_the_app() -> None:
    from tradewind.cli.reference import MARKER, reference_markdown

    text = (DOCS / "cli.md").read_text()
    assert MARKER in text
    assert text.split(MARKER, 1)[1] == reference_markdown(), (
        "regenerate it: python -m tradewind.cli.reference --write docs/cli.md"
    )
    # every option of every command is in it, under its command's heading
    import typer.main

    root = typer.main.get_command(app)
    generated = text.split(MARKER, 1)[1]
    for name in _commands():
        cmd = root
        for part in name.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        section = generated.split(f"### `tradewind {name}`\n", 1)[1].split("\n### ", 1)[0]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in section, (name, opt)


def test_configuration_reference_names_every_key() -> None:
    text = (DOCS / "configuration.md").read_text()
    keys = []
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += [f"{name}.{sub}" for sub in ann.model_fields]
        else:
            keys.append(name)
    missing = [k for k in keys if not re.search(rf"`{re.escape(k)}`", text)]
    assert missing == []


def test_configuration_reference_is_generated_from_the_models() -> None:
    from tradewind.config.starter import reference_markdown

    text = (DOCS / "configuration.md").read_text()
    assert text.split("## Keys\n\n", 1)[1] == reference_markdown(), (
        "regenerate the key tables: python -c 'from tradewind.config.starter import "
        "reference_markdown; print(reference_markdown())'"
    )


def test_the_example_agents_config_is_valid() -> None:
    from tradewind.config import load_config

    settings = load_config(DOCS.parent / "examples" / "agents.toml", environ={})
    assert len(settings.agents) == 6
    assert {a.strategy for a in settings.agents} == {"channel_run", "trail_fractals"}
    assert {a.timeframe for a in settings.agents} == {"1h", "4h", "1d"}
