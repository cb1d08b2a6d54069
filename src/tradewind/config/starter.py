"""The commented starter config (``tradewind init``) and the JSON Schema, both derived
from the models so they can never drift from what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from tradewind.config.models import Settings

__all__ = ["json_schema", "reference_markdown", "starter_toml"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(value.as_posix())
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(str(value))


def _render_fields(model: BaseModel, lines: list[str]) -> None:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            continue
        if field.description:
            lines.append(f"# {field.description}")
        if field.annotation is not None and "SecretStr" in str(field.annotation):
            lines.append(f"# {name}: environment only")
        elif value is None or isinstance(value, SecretStr):
            lines.append(f"# {name} =")
        else:
            lines.append(f"{name} = {_toml_value(value)}")


def starter_toml() -> str:
    """A complete, commented ``tradewind.toml`` holding the built-in defaults."""
    defaults = Settings.model_construct()
    lines = [
        "# Tradewind configuration. Every key is optional: the values below are the defaults.",
        "# Environment overrides: TRADEWIND__SECTION__KEY (e.g. TRADEWIND__DATA__TIMEFRAME=1h).",
        "# Secrets (exchange keys) are read from the environment only, never from this file.",
        "",
    ]
    _render_fields(defaults, lines)
    for name in type(defaults).model_fields:
        section = getattr(defaults, name)
        if isinstance(section, BaseModel):
            doc = (type(section).__doc__ or "").strip().splitlines()[0]
            lines += ["", f"[{name}]", f"# {doc}"]
            _render_fields(section, lines)
    return "\n".join(lines) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (``tradewind config schema``)."""
    return Settings.model_json_schema()


def reference_markdown() -> str:
    """The key tables of docs/configuration.md, generated from the models (a test keeps the
    document equal to this, so the reference can never drift from the code)."""

    def rows(model: type[BaseModel], prefix: str) -> list[str]:
        out = []
        instance = model.model_construct() if model is Settings else model()
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                continue
            default = getattr(instance, name)
            if "SecretStr" in str(annotation):
                shown = "— (environment only)"
            elif default is None:
                shown = "—"
            elif isinstance(default, Path):
                shown = f"`{default.as_posix()}`"
            else:
                shown = f"`{default!r}`"
            env = "TRADEWIND__" + f"{prefix}{name}".replace(".", "__").upper()
            out.append(f"| `{prefix}{name}` | {shown} | `{env}` | {field.description or ''} |")
        return out

    head = "| key | default | environment | meaning |\n|---|---|---|---|"
    parts = [head, *rows(Settings, "")]
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            doc = (section.__doc__ or "").strip().splitlines()[0]
            parts += ["", f"### `[{name}]` — {doc}", "", head, *rows(section, f"{name}.")]
    return "\n".join(parts) + "\n"
