"""The CLI reference, generated from the Typer app itself: every command, its help, and
a table of its arguments and options with their defaults.

``docs/cli.md`` ends with this text; a test regenerates it and compares, so the reference
cannot drift from the code::

    python -m tradewind.cli.reference > /tmp/ref.md   # or: --write docs/cli.md
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "reference_markdown", "write_reference"]

#: The heading under which ``docs/cli.md`` holds the generated text (all of the rest).
MARKER = "## Reference (generated from the CLI)\n\n"


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    """Leaf commands under ``group``, in the order they were added. (Typer ships its own
    copy of click, so commands and parameters are read by their attributes.)"""
    out: list[tuple[str, Any]] = []
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}"
        if getattr(cmd, "commands", None):
            out += _commands(cmd, path)
        else:
            out.append((path, cmd))
    return out


def _cell(text: str) -> str:
    # Angle brackets would be read as HTML tags (``<home>`` would vanish).
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _default(param: Any) -> str:
    value: Any = param.default
    if param.param_type_name == "option" and param.is_flag:
        if param.secondary_opts and value is not None:
            return f"`{param.opts[0] if value else param.secondary_opts[0]}`"
        return ""
    if value is None or callable(value):
        return ""
    return f"`{value}`"


def _names(param: Any, ctx: Any) -> str:
    kind = param.display_type(ctx).strip("<>").upper()
    if param.param_type_name == "argument":
        shown = f"`{param.name.upper()}` {kind}"
    else:
        shown = " / ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        if not param.is_flag:
            shown += f" {kind}"
    return shown + (" (required)" if param.required else "")


def reference_markdown() -> str:
    """The reference section of ``docs/cli.md`` (everything after :data:`MARKER`)."""
    import typer.main

    from tradewind.cli.app import app

    root = typer.main.get_command(app)
    lines = [
        "Every command, its help and every argument and option, as `tradewind COMMAND "
        "--help` shows them. The options of `tradewind` itself apply to every command "
        "that leaves them out.",
        "",
    ]
    for path, cmd in [("tradewind", root), *_commands(root, "tradewind")]:
        lines.append(f"### `{path}`")
        lines.append("")
        if cmd.help:
            lines.append(_cell(cmd.help))
            lines.append("")
        ctx = cmd.make_context(path, [], resilient_parsing=True)
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            lines.append("| argument or option | default | meaning |")
            lines.append("|---|---|---|")
            for p in params:
                helptext = getattr(p, "help", None) or ""
                lines.append(f"| {_names(p, ctx)} | {_default(p)} | {_cell(helptext)} |")
            lines.append("")
    return "\n".join(lines)


def write_reference(path: Path) -> None:
    """Replace the generated part of ``path`` (after :data:`MARKER`) with a fresh one."""
    text = path.read_text(encoding="utf-8")
    head = text.split(MARKER, 1)[0]
    path.write_text(head + MARKER + reference_markdown(), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write_reference(Path(sys.argv[2]))
    else:
        sys.stdout.write(reference_markdown())
