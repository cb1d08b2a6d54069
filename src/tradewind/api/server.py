"""Serving the app: uvicorn on a thread of the node's process (``tradewind run``), or in
the foreground over a trade book alone (``tradewind serve``).

The server thread only reads: the book through its own read-only connections, the node
through the snapshot it publishes after each tick. A slow browser or a burst of requests
costs that thread, never a tick.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from tradewind.api.app import create_app, is_loopback
from tradewind.api.link import NodeLink
from tradewind.api.logs import LogBuffer, secrets_of
from tradewind.api.token import ensure_token, read_token, token_path
from tradewind.api.view import BookView
from tradewind.config import Settings
from tradewind.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

    from tradewind.live.ensemble import EnsembleNode
    from tradewind.live.node import CycleNode

__all__ = ["StatusServer", "serve_book", "serve_node"]

log = logging.getLogger(__name__)


class StatusServer:
    """uvicorn on a daemon thread; :meth:`start` returns once it listens."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        *,
        name: str,
        view: BookView,
        logs: LogBuffer | None = None,
    ) -> None:
        import uvicorn

        self.settings = settings
        self.view = view
        self.logs = logs
        self.info = settings.home / f"api-{name}.json"
        config = uvicorn.Config(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self.server: uvicorn.Server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None
        self.url = ""

    def _bound(self) -> tuple[str, int]:
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def start(self, timeout: float = 20.0) -> str:
        self.thread = threading.Thread(target=self.server.run, name="tradewind-api", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(
                    f"the status server could not listen on {self.settings.api.host}:"
                    f"{self.settings.api.port} (in use? set api.port, or api.enabled = false)"
                )
            time.sleep(0.02)
        host, port = self._bound()
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"
        self._write_info(port)
        if not is_loopback(self.settings.api.host):
            log.warning(
                "the status server listens on %s, not only on this machine: anyone who can "
                "reach it and has the token can read the node's status",
                self.settings.api.host,
            )
        log.info(
            "status server and dashboard at %s (token in %s)", self.url, token_path(self.settings)
        )
        return self.url

    def _write_info(self, port: int) -> None:
        """``<home>/api-<name>.json``: where the server listens (never the token), for
        tools and tests to find a server on port 0."""
        tmp = self.info.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"url": self.url, "port": port, "pid": os.getpid()}), encoding="utf-8"
        )
        os.replace(tmp, self.info)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.info.unlink(missing_ok=True)
        self.view.close()
        if self.logs is not None:
            self.logs.detach()

    def close(self) -> None:
        self.stop()


def _token(settings: Settings) -> str:
    path, written = ensure_token(settings)
    if written:
        log.warning("wrote a new API token to %s (mode 0600)", path)
    return read_token(path)


def serve_node(settings: Settings, node: CycleNode | EnsembleNode) -> StatusServer:
    """The status server of a running node, started (``api.enabled`` is checked by the
    caller)."""
    token = _token(settings)
    logs = LogBuffer(settings.api.log_lines, secrets_of(settings, token)).attach()
    view = BookView(settings.book_url, name=node.name)
    app = create_app(settings, view, token, link=NodeLink(node), logs=logs)
    server = StatusServer(app, settings, name=node.name, view=view, logs=logs)
    try:
        server.start()
    except BaseException:
        view.close()
        logs.detach()
        raise
    return server


def serve_book(
    settings: Settings, url: str, *, name: str | None, run_id: int | None
) -> StatusServer:
    """A read-only server over the trade book at ``url`` (no node), started."""
    token = _token(settings)
    view = BookView(url, name=name or settings.live.name, run_id=run_id)
    if run_id is not None:
        view.runs()  # a run that is not there is said now, not on the first request
    app = create_app(settings, view, token)
    server = StatusServer(app, settings, name=f"serve-{name or 'book'}", view=view)
    try:
        server.start()
    except BaseException:
        view.close()
        raise
    return server
