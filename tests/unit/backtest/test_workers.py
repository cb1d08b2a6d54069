"""How a study's workers start: forked warm from a preloaded forkserver where the
program's main module is harmless to import again, fresh interpreters otherwise; and the
same results either way."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.backtest.test_montecarlo import SETTINGS_ENV, market  # noqa: F401 (fixture)
from tradewind.backtest import workers
from tradewind.backtest.montecarlo import run_montecarlo
from tradewind.backtest.workers import Workers, start_method
from tradewind.config import load_config
from tradewind.errors import ConfigError

needs_forkserver = pytest.mark.skipif(
    "forkserver" not in mp.get_all_start_methods(), reason="no forkserver on this platform"
)


def _main(monkeypatch: pytest.MonkeyPatch, **attrs: object) -> None:
    main = types.ModuleType("__main__")
    for k, v in attrs.items():
        setattr(main, k, v)
    monkeypatch.setitem(sys.modules, "__main__", main)


@needs_forkserver
def test_auto_forks_only_where_the_main_module_is_harmless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A user's script: importing it again in each worker could start the study again.
    _main(monkeypatch, __file__="/somewhere/study.py", __spec__=None)
    assert start_method("auto") == "fresh"
    # python -m some.module: the same, run again by name.
    _main(monkeypatch, __spec__=types.SimpleNamespace(name="studies.mine"))
    assert start_method("auto") == "fresh"
    # python -m a package (its __main__ is skipped by multiprocessing), a REPL/notebook.
    _main(monkeypatch, __spec__=types.SimpleNamespace(name="pytest.__main__"))
    assert start_method("auto") == "forkserver"
    _main(monkeypatch, __spec__=None)
    assert start_method("auto") == "forkserver"
    # The tradewind console script: it holds the CLI's app and runs it under a guard.
    from tradewind.cli import app

    _main(monkeypatch, __file__="/venv/bin/tradewind", __spec__=None, main=app.main)
    assert start_method("auto") == "forkserver"
    _main(monkeypatch, __file__="/venv/bin/tradewind", __spec__=None, main=print)
    assert start_method("auto") == "fresh"
    # Explicit choices win.
    assert start_method("fresh") == "fresh"
    _main(monkeypatch, __file__="/somewhere/study.py", __spec__=None)
    assert start_method("forkserver") == "forkserver"


def test_an_unknown_start_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"backtest\.worker_start = 'spawn'"):
        start_method("spawn")
    with pytest.raises(ConfigError, match="TRADEWIND__BACKTEST__WORKER_START.*'spawn'"):
        load_config(environ={"TRADEWIND__BACKTEST__WORKER_START": "spawn"})


def _where() -> tuple[int, bool]:
    return os.getppid(), workers.PRELOAD in sys.modules


@needs_forkserver
def test_forkserver_workers_start_warm_and_loky_is_restored() -> None:
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.backend import context as loky

    get_reusable_executor().shutdown(wait=True)  # an earlier test's processes: not ours
    before = loky.get_start_method()
    with Workers(jobs=2, cluster=None, per_run=1, start="forkserver") as w:
        w.ready()
        seen = Parallel(n_jobs=2)(delayed(_where)() for _ in range(4))
    assert loky.get_start_method() == before
    get_reusable_executor().shutdown(wait=True)  # leave no forked workers to later tests
    for parent, preloaded in seen:
        assert parent != os.getpid()  # forked by the server, not started by this process
        assert preloaded  # the trader and its kernels came with the fork


@pytest.mark.slow
@needs_forkserver
def test_studies_agree_however_the_workers_start(
    market: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    base = load_config(environ=SETTINGS_ENV)
    got = {}
    for start in ("forkserver", "fresh"):
        settings = base.model_copy(
            update={"backtest": base.backtest.model_copy(update={"worker_start": start})}
        )
        got[start] = run_montecarlo(settings, runs=4, folder=tmp_path / start, jobs=2).runs
    pd.testing.assert_frame_equal(got["forkserver"], got["fresh"])


def test_a_local_dask_cluster_keeps_glibc_adaptive_and_skips_the_profiler() -> None:
    import dask

    with dask.config.set(
        {"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536, "X": 1}}
    ):
        config = workers._local_cluster_config("fresh")
    assert config["distributed.nanny.pre-spawn-environ"] == {"X": 1}
    assert config["distributed.worker.profile.enabled"] is False
    assert "distributed.worker.multiprocessing-method" not in config
    forked = workers._local_cluster_config("forkserver")
    assert forked["distributed.worker.multiprocessing-method"] == "forkserver"


@pytest.mark.slow
@needs_forkserver
def test_a_forkserver_local_cluster_runs_warm_workers_with_that_config() -> None:
    with Workers(jobs=2, cluster="local", per_run=1, start="forkserver") as w:
        w.ready()
        nannies = list(w._local.workers.values())
        assert all("MALLOC_TRIM_THRESHOLD_" not in n.pre_spawn_env for n in nannies)
        seen = w._client.run(_where)
        profiled = w._client.run(_profiling)
    assert len(seen) == 2
    assert all(preloaded for _, preloaded in seen.values())
    assert not any(profiled.values())


def _profiling() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))
