"""Loading the configuration: TOML file → environment overlay → CLI options.

Errors name the file (or environment variable), the key path, what was wrong and what
is allowed, with "did you mean …?" for misspelt keys.
"""

from __future__ import annotations

import contextvars
import difflib
import hashlib
import json
import os
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tradewind.config.models import Settings
from tradewind.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "config_hash",
    "current_file_data",
    "load_config",
    "resolved_dict",
]

DEFAULT_CONFIG_NAME = "tradewind.toml"
ENV_PREFIX = "TRADEWIND__"
_SECRET_KEYS = {
    ("exchange", "api_key"),
    ("exchange", "api_secret"),
    ("notify", "webhook_url"),
    ("notify", "telegram_token"),
    ("notify", "telegram_chat_id"),
}

_file_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "tradewind_config_file_data", default=None
)


def current_file_data() -> dict[str, Any]:
    """The parsed TOML of the config being loaded (used by the settings source)."""
    return _file_data.get() or {}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (run `tradewind init`)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve the configuration.

    ``path`` None means ``./tradewind.toml`` when it exists, else the built-in defaults.
    ``overrides`` are CLI options as nested dicts (``{"data": {"timeframe": "1h"}}``); they
    win over the environment, which wins over the file. ``environ`` replaces ``os.environ``
    (tests).
    """
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = Path(DEFAULT_CONFIG_NAME)
    file_data = _read_toml(path) if path is not None else {}
    where = str(path) if path is not None else "built-in defaults"
    for section, key in _SECRET_KEYS:
        if isinstance(file_data.get(section), dict) and key in file_data[section]:
            env_name = f"{ENV_PREFIX}{section}__{key}".upper()
            raise ConfigError(
                f"{where}: key {section}.{key}: secrets do not belong in files; "
                f"remove it and set the environment variable {env_name}"
            )
    env = dict(os.environ) if environ is None else environ
    _check_env_names(env)
    token = _file_data.set(file_data)
    saved_environ = None
    try:
        if environ is not None:
            saved_environ = dict(os.environ)
            os.environ.clear()
            os.environ.update(environ)
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_explain(exc, file_data, overrides or {}, env, where)) from None
    finally:
        _file_data.reset(token)
        if saved_environ is not None:
            os.environ.clear()
            os.environ.update(saved_environ)


def _check_env_names(env: dict[str, str]) -> None:
    """Unknown top-level ``TRADEWIND__*`` variables are typos, not something to ignore."""
    allowed = sorted(Settings.model_fields)
    for name in env:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        head = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if head not in Settings.model_fields:
            hint = difflib.get_close_matches(head, allowed, n=1)
            guess = f" — did you mean {ENV_PREFIX}{hint[0].upper()}…?" if hint else ""
            raise ConfigError(
                f"environment variable {name}: unknown section or key {head!r}{guess} "
                f"(allowed: {', '.join(allowed)})"
            )


def _lookup(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):  # an index into a list of models, e.g. agents[0]
            continue
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if annotation is not None and typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _source_of(
    loc: tuple[Any, ...],
    file_data: dict[str, Any],
    overrides: dict[str, Any],
    env: dict[str, str],
    where: str,
) -> str:
    if _lookup(overrides, loc):
        return "command-line option"
    env_name = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
    if any(k.upper() == env_name for k in env):
        return f"environment variable {env_name}"
    return where


def _explain(
    exc: ValidationError,
    file_data: dict[str, Any],
    overrides: dict[str, Any],
    env: dict[str, str],
    where: str,
) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        lines.append(_explain_one(err, loc, file_data, overrides, env, where))
    head = "invalid configuration" if len(lines) == 1 else f"{len(lines)} configuration errors"
    return head + ":\n  " + "\n  ".join(lines)


def _explain_one(
    err: ErrorDetails,
    loc: tuple[Any, ...],
    file_data: dict[str, Any],
    overrides: dict[str, Any],
    env: dict[str, str],
    where: str,
) -> str:
    key = ".".join(str(p) for p in loc)
    source = _source_of(loc, file_data, overrides, env, where)
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        msg = f"{source}: unknown key {key!r}"
        if hint:
            msg += f" — did you mean {'.'.join([*map(str, loc[:-1]), hint[0]])!r}?"
        if allowed:
            msg += f" (allowed here: {', '.join(allowed)})"
        return msg
    text = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{source}: key {key!r}: {text}{shown}"


def resolved_dict(settings: Settings, *, mask_secrets: bool = True) -> dict[str, Any]:
    """The resolved config as plain JSON-able data; secrets masked (``'***'``) or dropped."""
    data = settings.model_dump(mode="json")
    for section, key in _SECRET_KEYS:
        value = getattr(getattr(settings, section), key)
        if mask_secrets:
            data[section][key] = "***" if value is not None else None
        else:
            data[section].pop(key, None)
    return data


def config_hash(settings: Settings) -> str:
    """A stable SHA-256 (hex) of the resolved config, secrets excluded, recorded with runs."""
    payload = json.dumps(resolved_dict(settings, mask_secrets=False), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
