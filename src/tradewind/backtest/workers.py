"""The processes a study's runs go to, and how they start.

A study's runs are short (about 10 ms each), so on a small machine the seconds its
workers take to start weigh as much as the runs themselves: a fresh Python process spends
about 0.6 s importing tradewind and 0.3 s loading the compiled kernels, and two of them
share the two cores with the parent, which prepares the study's inputs at the same time.

Where it is safe, the workers are therefore forked from a *forkserver*
(:mod:`multiprocessing`) that imported tradewind and loaded the kernels once
(:mod:`tradewind.backtest.preload`): one process pays the start-up, every worker begins
warm. "Safe" is the catch of the forkserver and of ``spawn``: each worker imports the
program's main module again, so a script that starts a study at its top level, without an
``if __name__ == "__main__":`` guard, would start it again in every worker. ``auto``
therefore uses the forkserver only where the main module is known to be harmless — the
``tradewind`` command, ``python -m`` of a package, an interactive session or notebook —
and otherwise starts fresh workers that do not import it (joblib's own loky processes;
Dask's ``spawn``, which Dask requires the guard for anyway). ``backtest.worker_start``
chooses explicitly.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from typing import Any, Literal

from tradewind.errors import ConfigError

__all__ = ["PRELOAD", "Workers", "jobs_for_memory", "start_method"]

#: What the forkserver imports before it forks a worker.
PRELOAD = "tradewind.backtest.preload"

Start = Literal["forkserver", "fresh"]


def _main_is_harmless() -> bool:
    """Whether importing this program's ``__main__`` again in a worker runs nothing."""
    main = sys.modules.get("__main__")
    if main is None:
        return True
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:  # ``python -m``: multiprocessing skips a package's __main__
        return bool(name == "__main__" or name.endswith(".__main__"))
    if getattr(main, "__file__", None) is None:  # a REPL, a notebook, ``python -c``
        return True
    # The ``tradewind`` console script: it only imports the CLI's entry point and calls it
    # under a guard.
    app = sys.modules.get("tradewind.cli.app")
    return app is not None and getattr(main, "main", None) is getattr(app, "main", object())


def start_method(setting: str) -> Start:
    """How workers start for ``backtest.worker_start = setting``."""
    if setting not in ("auto", "forkserver", "fresh"):
        raise ConfigError(
            f"backtest.worker_start = {setting!r}: use auto, forkserver or fresh"
        )
    available = "forkserver" in mp.get_all_start_methods()
    if setting == "forkserver" and not available:
        raise ConfigError(
            f"backtest.worker_start = forkserver: not available on {sys.platform}; use fresh"
        )
    if setting == "auto":
        return "forkserver" if available and _main_is_harmless() else "fresh"
    return "forkserver" if setting == "forkserver" else "fresh"


def _preload(*first: str) -> None:
    """Have the forkserver import ``first`` and then tradewind's kernels — and the
    program's main module once, so that the workers it forks need not (see the module's
    docstring for why that is safe here). No effect when this process's forkserver runs
    already: it keeps what it preloaded, and workers then load the kernels themselves."""
    mp.get_context("forkserver").set_forkserver_preload(["__main__", *first, PRELOAD])


def _local_cluster_config(start: Start) -> dict[str, Any]:
    """Dask settings for the ``LocalCluster`` a study starts itself.

    * Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` for its workers (to hand freed memory
      back to the system at once). Setting it at all switches off glibc's adaptive mmap
      threshold, so every array of a run above 128 KiB — its equity curve is 576 KB —
      is mapped and unmapped afresh, page faults included: runs took 9.1 ms instead of
      7.1 ms. A study holds a few runs' state at a time; the workers keep glibc's default.
    * No profiler: it samples the worker's threads every 10 ms for a dashboard the study
      does not serve (another 0.3 ms a run).
    * The start method, where ``start`` is the forkserver (read when the nanny starts its
      worker).
    """
    import dask

    environ = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    config: dict[str, Any] = {
        "distributed.nanny.pre-spawn-environ": {
            k: v for k, v in dict(environ).items() if k != "MALLOC_TRIM_THRESHOLD_"
        },
        "distributed.worker.profile.enabled": False,
    }
    if start == "forkserver":
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    return config


def warm() -> int:
    """In a worker: import the trader and load its compiled kernels (a tiny run) — at
    once when it was forked from a preloaded forkserver."""
    from tradewind.backtest.run import compile_kernels

    compile_kernels()
    return os.getpid()


def jobs_for_memory(jobs: int, per_run: int) -> int:
    """No more worker processes than half the available memory holds runs of ``per_run``
    bytes of their own state (the candles themselves are shared)."""
    import psutil

    room = int(psutil.virtual_memory().available * 0.5)
    return max(1, min(jobs, room // max(per_run, 1)))


class Workers:
    """Where a study's runs go: local processes (joblib) or a Dask cluster behind the same
    joblib API — one code path.

    They start as soon as the study knows it has runs to do, in a thread, while the study
    prepares what the runs share, so that their start overlaps with the candles being
    laid out and the nominations computed, instead of following them."""

    def __init__(
        self, *, jobs: int, cluster: str | None, per_run: int, start: str = "auto"
    ) -> None:
        self.cluster = cluster
        self.jobs = jobs_for_memory(jobs, per_run) if cluster is None else jobs
        self.start: Start = start_method(start)
        self._client: Any = None
        self._local: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loky_before: str | None = None
        self._loky_set = False
        if cluster is None and self.jobs > 1 and self.start == "forkserver":
            self._start_forkserver()
        elif cluster is not None or self.jobs > 1:
            self._thread = threading.Thread(target=self._start, daemon=True)
            self._thread.start()

    def _start(self) -> None:
        try:
            if self.cluster is None:
                self._start_joblib()
            else:
                self._start_dask()
        except BaseException as exc:  # raised in the study's thread by ready()
            self._error = exc

    def _start_joblib(self) -> None:
        from joblib import Parallel, delayed

        # Fresh processes, started now: they import tradewind and load the kernels while
        # the parent prepares. joblib keeps them for the study's own call (same n_jobs).
        Parallel(n_jobs=self.jobs)(delayed(warm)() for _ in range(self.jobs))

    def _start_forkserver(self) -> None:
        """Start the preloaded forkserver (it loads tradewind while the study prepares);
        joblib's processes fork from it when the runs begin — a fork costs milliseconds,
        so they need no head start (one made the first result later: the parent's
        preparation then shares the machine with the idle executor's threads)."""
        from multiprocessing import forkserver

        # joblib's processes are loky's; loky takes its start method from this setting
        # only (joblib passes it no context). close() restores it.
        from joblib.externals.loky.backend import context as loky

        _preload("joblib")
        forkserver.ensure_running()
        self._loky_before = loky.get_start_method()
        loky.set_start_method("forkserver", force=True)
        self._loky_set = True

    def _start_dask(self) -> None:
        import dask
        import distributed

        dist: Any = distributed  # untyped library: keep its calls out of strict checking
        if self.cluster != "local":
            self._client = dist.Client(self.cluster)
            self._client.run(warm)
            return
        with dask.config.set(_local_cluster_config(self.start)):
            if self.start == "forkserver":
                dist.utils.get_mp_context()  # sets distributed's preload, which ours
                _preload("distributed")  # replaces (it comes first in ours)
            self._local = dist.LocalCluster(
                n_workers=self.jobs,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
            )
        self._client = dist.Client(self._local)
        self._client.run(warm)

    def ready(self) -> None:
        """Wait for the workers; a cluster that could not be reached fails here. A local
        warm-up that failed costs nothing but its time: the runs then start cold."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None and self.cluster is not None:
            raise ConfigError(f"--cluster {self.cluster}: {self._error}") from self._error

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._client is not None:
            self._client.close()
        if self._local is not None:
            self._local.close()
        if self._loky_set:
            from joblib.externals.loky.backend import context as loky

            loky.set_start_method(self._loky_before, force=True)
            self._loky_set = False

    def describe(self) -> dict[str, Any]:
        """How the runs were carried, for a study's summary."""
        local = self.cluster is None
        start = "in process" if local and self.jobs == 1 else self.start
        return {"jobs": self.jobs, "start": start, "cluster": self.cluster}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
