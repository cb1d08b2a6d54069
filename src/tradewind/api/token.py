"""The API token: a random secret in a file only its owner can read.

``tradewind init`` writes it; a node or ``tradewind serve`` that finds none writes one at
start-up. A token file others can read is refused, as ssh refuses such a key: whoever
reads it can read the node's status (and, with control on, pause it).
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import sys
from pathlib import Path

from tradewind.config import Settings
from tradewind.errors import ConfigError

__all__ = ["ensure_token", "read_token", "same_token", "token_path"]

#: bytes of randomness: 256 bits, URL-safe base64 (43 characters)
TOKEN_BYTES = 32


def token_path(settings: Settings) -> Path:
    return settings.api.token_file or settings.home / "api-token"


def read_token(path: Path) -> str:
    """The token in ``path``; refused when the file is readable by others or empty."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no API token; `tradewind init` writes one (or set api.token_file)"
        ) from None
    if sys.platform != "win32" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the API token can be read by others (mode {stat.S_IMODE(mode):o}); "
            f"`chmod 600 {path}`"
        )
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise ConfigError(f"{path}: the API token is too short (16 characters at least)")
    return token


def ensure_token(settings: Settings, *, renew: bool = False) -> tuple[Path, bool]:
    """The token file of ``settings``, written with mode 0600 when missing (or ``renew``):
    its path and whether it was written now. The file is created with its mode (never
    readable by others, not even for a moment) and replaced atomically."""
    path = token_path(settings)
    if path.exists() and not renew:
        read_token(path)  # refuses a file others can read
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path, True


def same_token(given: str | None, token: str) -> bool:
    """Constant-time comparison (no timing hint of how much of a guess was right)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
