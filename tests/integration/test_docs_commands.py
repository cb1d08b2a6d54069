"""Every command the README and docs/ show is run here, so the docs cannot drift from the code.

Commands are read from the ```bash blocks of README.md and docs/*.md, in order. Each file's
commands run one after another in a fresh sandbox of their own (a working folder with
``../shared/data``, ``examples/`` and ``studies/`` beside it, as in the repository), as
``python -m tradewind …`` for ``tradewind …`` and ``.venv/bin/tradewind …``. What a
command may need that the machine has not is marked in the docs, and the test knows it:

* ``[internet]``, ``[keys]``, ``[money]``, ``[cluster]`` (a Dask cluster) — only
  ``tradewind … --help`` of the command is run (for ``dask scheduler``/``dask worker``:
  that they are installed and know the options shown); a command that needs them and is
  not marked fails the test;
* ``pytest …`` — the test files it names must exist (the suite runs them anyway);
* ``[long]`` — the study script: run with a handful of pairs and a short period;
* ``[benchmark]`` — the benchmark names must exist (benchmarks stay out of the suite);
* ``tradewind serve`` runs until Ctrl-C: it is started, asked for ``/health`` once it
  says where it listens, and stopped with SIGINT (it must exit 0);
* ``curl`` lines must name a route and method the API has (``/openapi.json``);
* ``make X`` must be a target of the Makefile; when its recipe ends in a ``tradewind``
  command (``make demo``), that command is run.

The sandbox's environment makes the markets small — the synthetic one 6 pairs instead of
30, and a command reading ``../shared/data`` sees 8 of its pairs (``data.pairs``) — and
``--speed`` is dropped (replays run flat out): the commands run the same code on less
data, so this changes how long they take, not what they do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md"))
FILES = [REPO / "README.md", *DOCS]
MARKS = ("internet", "keys", "money", "cluster", "long", "benchmark")
#: Commands that cannot run offline without keys: they must carry a mark.
ONLINE = ("data download", "data update", "flatten")

pytestmark = pytest.mark.slow


@dataclass
class Command:
    file: str
    line: int
    text: str
    marks: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)


def commands_of(path: Path) -> list[Command]:
    out: list[Command] = []
    fence: str | None = None
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opened = re.match(r"^\s*```(\w*)\s*$", raw)
        if opened:
            fence = None if fence is not None else opened.group(1) or "text"
            continue
        if fence not in ("bash", "sh", "shell"):
            continue
        line = raw.rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        marks = tuple(m for m in MARKS if f"[{m}]" in line.split("#", 1)[-1]) if "#" in line else ()
        for part in re.split(r"\s&&\s", line.split(" #", 1)[0]):
            out.append(Command(path.name, start, part.strip(), marks))
    return out


ALL = {f.name: commands_of(f) for f in FILES}


def test_the_docs_show_commands() -> None:
    """The parser finds the commands (a broken parser would make every check vacuous)."""
    readme = [c.text for c in ALL["README.md"]]
    assert "make demo" in readme
    assert "make test" in readme
    assert sum(len(v) for v in ALL.values()) > 40


def _tradewind(argv: list[str]) -> list[str] | None:
    if argv and argv[0] in ("tradewind", ".venv/bin/tradewind"):
        return argv[1:]
    if argv[:3] in (["python", "-m", "tradewind"], [".venv/bin/python", "-m", "tradewind"]):
        return argv[3:]
    return None


def _subcommand(args: list[str]) -> list[str]:
    """The command path of ``args`` (``data check``), options and arguments left out."""
    import typer.main

    from tradewind.cli.app import app

    node = typer.main.get_command(app)
    path: list[str] = []
    for word in args:
        sub = getattr(node, "commands", {}).get(word)
        if sub is None:
            break
        path.append(word)
        node = sub
    return path


def _env(sandbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND__")}
    env.update(
        {
            "TRADEWIND__SYNTH__PAIRS": "6",
            "TRADEWIND__SYNTH__DAYS": "240",
            "TRADEWIND__API__PORT": "0",
            "PYTHONPATH": str(REPO),
            "COLUMNS": "120",
        }
    )
    return env


def _sandbox(tmp_path: Path, shared: Path | None) -> Path:
    work = tmp_path / "main"
    work.mkdir()
    for name in ("examples", "studies"):
        (work / name).symlink_to(REPO / name)
    if shared is not None:
        (tmp_path / "shared").symlink_to(shared)
    return work


def _serve(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start ``tradewind serve``, ask it for /health, stop it with SIGINT."""
    import httpx

    home = cwd / ".tradewind"
    before = set(home.glob("api-*.json"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        found: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            found = [p for p in home.glob("api-*.json") if p not in before]
            if found:
                break
            time.sleep(0.1)
        if not found:
            proc.kill()
            return -1, proc.communicate()[0]
        time.sleep(0.2)
        url = json.loads(found[0].read_text())["url"]
        health = httpx.get(f"{url}health", timeout=10).status_code
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
        return (proc.returncode if health == 200 else -2), out
    finally:
        if proc.poll() is None:
            proc.kill()


def _routes() -> set[tuple[str, str]]:
    from tradewind.api.app import create_app
    from tradewind.config import load_config

    spec = create_app(load_config(None, {}, environ={}), None, "x" * 43).openapi()  # type: ignore[arg-type]
    routes = set()
    for path, ops in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"
        routes |= {(method.upper(), pattern) for method in ops}
    return routes


def _check_curl(cmd: Command, routes: set[tuple[str, str]]) -> str | None:
    argv = cmd.argv
    method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
    url = next((a for a in argv if a.startswith("http")), None)
    if url is None:
        return f"{cmd.file}:{cmd.line}: curl without an address"
    path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0] or "/"
    if not any(m == method and re.match(p, path) for m, p in routes):
        return f"{cmd.file}:{cmd.line}: {method} {path} is not a route of the API"
    return None


SHARED = REPO.parent / "shared" / "data"
#: What a command reading ../shared/data sees of it here (all eight have 5m and 1h files).
REAL_PAIRS = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "LINKUSDT",
    "AVAXUSDT",
    "LTCUSDT",
]


#: The README's home as its ``make demo`` left it, kept by the README's test (run first)
#: so that the other pages start from it without running the demo a second time.
_AFTER_DEMO: list[Path] = []


@pytest.fixture(scope="module")
def after_the_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox as the quick start leaves it: ``tradewind demo`` has run (``make demo``).
    The docs other than the README start from a copy of it."""
    if _AFTER_DEMO:
        return _AFTER_DEMO[0]
    root = tmp_path_factory.mktemp("demo")
    cwd = _sandbox(root, None)
    proc = subprocess.run(
        [sys.executable, "-m", "tradewind", "demo", "--quiet"],
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd


@pytest.mark.parametrize("name", [n for n, c in ALL.items() if c])
def test_every_command_in_the_docs_runs(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    commands = ALL[name]
    needs_shared = any("../shared/data" in c.text for c in commands)
    if needs_shared and not SHARED.is_dir():
        pytest.skip(f"{name} runs commands on ../shared/data, which is not here")
    cwd = _sandbox(tmp_path, SHARED.parent if SHARED.is_dir() else None)
    if name != "README.md":
        # the README starts from nothing; the other pages from where its quick start ends
        template = request.getfixturevalue("after_the_demo")
        shutil.copytree(template / ".tradewind", cwd / ".tradewind", symlinks=True)
    env = _env(cwd)
    makefile = (REPO / "Makefile").read_text()
    routes: set[tuple[str, str]] | None = None
    failures: list[str] = []
    timings: list[str] = []
    for cmd in commands:
        argv = cmd.argv
        where = f"{cmd.file}:{cmd.line}: {cmd.text}"
        began = time.monotonic()
        if argv[0] == "make":
            recipe = re.search(rf"^{re.escape(argv[1])}:.*\n((?:\t.*\n)*)", makefile, re.MULTILINE)
            if recipe is None:
                failures.append(f"{where}: no such make target")
                continue
            last = recipe.group(1).strip().splitlines()[-1].split() if recipe.group(1) else []
            if not last or last[0] != "$(BIN)/tradewind":
                continue
            argv = ["tradewind", *last[1:]]
        if argv[0] == "curl":
            routes = routes if routes is not None else _routes()
            problem = _check_curl(cmd, routes)
            if problem:
                failures.append(problem)
            continue
        if argv[0] in ("export",) or re.match(r"^[A-Z_]+=", argv[0]):
            continue
        if argv[0] == "dask":
            dask = Path(sys.executable).parent / "dask"
            if "cluster" not in cmd.marks:
                failures.append(f"{where}: needs a Dask cluster: mark it [cluster]")
                continue
            proc = subprocess.run(
                [str(dask), argv[1], "--help"], capture_output=True, text=True, timeout=120
            )
            options = re.findall(r"--[\w-]+", " ".join(argv[2:]))
            unknown = [o for o in options if o not in proc.stdout]
            if proc.returncode != 0 or unknown:
                failures.append(
                    f"{where}: `dask {argv[1]} --help` exits {proc.returncode}, "
                    f"unknown options {unknown}"
                )
            continue
        if Path(argv[0]).name == "pytest":
            missing = [a for a in argv[1:] if a.endswith(".py") and not (REPO / a).exists()]
            if missing:
                failures.append(f"{where}: no such test file {missing}")
            continue
        if "benchmark" in cmd.marks or "benchmarks" in argv:
            from benchmarks.__main__ import BENCHMARKS

            names = (
                [a for a in argv[argv.index("benchmarks") + 1 :] if not a.startswith("[")]
                if "benchmarks" in argv
                else []
            )
            unknown = [n for n in names if n not in BENCHMARKS]
            if unknown or "benchmark" not in cmd.marks:
                failures.append(f"{where}: unknown benchmarks {unknown} or not marked [benchmark]")
            continue
        if argv[:2] in (
            ["python", "studies/evaluate.py"],
            [".venv/bin/python", "studies/evaluate.py"],
        ):
            if "long" not in cmd.marks:
                failures.append(f"{where}: the study takes long; mark it [long]")
                continue
            small = [
                "--pairs",
                "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT,LINKUSDT",
                "--end",
                "2024-04-15",
                "--train",
                "45d",
                "--test",
                "15d",
                "--trials",
                "4",
                "--runs",
                "6",
                "--ensemble",
                "4",
                "--ensembles",
                "4",
                "--choices",
                "6",
                "--bootstrap",
                "100",
                "--out",
                str(tmp_path / "study.md"),
                "--work",
                str(tmp_path / "study"),
            ]
            proc = subprocess.run(
                [sys.executable, *argv[1:], *small],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                failures.append(f"{where}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            else:
                # docs/study.md is this script's page (not edited by hand): same sections
                page = (tmp_path / "study.md").read_text()
                ours = (REPO / "docs" / "study.md").read_text()

                def heads(text: str) -> list[str]:
                    # the run counts in a heading follow the options, the sections do not
                    return [re.sub(r"\d+", "N", h) for h in text.splitlines() if h.startswith("#")]

                if "## Conclusions" not in page or heads(page) != heads(ours):
                    failures.append(f"{where}: docs/study.md is not the script's page")
                if "<!-- generated by studies/evaluate.py" not in ours:
                    failures.append(f"{where}: docs/study.md lacks the generator's mark")
            timings.append(f"{time.monotonic() - began:6.1f} s  {where}")
            continue
        args = _tradewind(argv)
        if args is None:
            failures.append(f"{where}: not a command this test knows how to check")
            continue
        sub = " ".join(_subcommand(args))
        online = sub in ONLINE or (sub == "run" and "--replay" not in args) or "--live" in args
        remote = any(a.startswith("tcp://") for a in args)
        if online and not {"internet", "keys", "money"} & set(cmd.marks):
            failures.append(f"{where}: needs the internet or keys: mark it [internet]/[keys]")
            continue
        if remote and "cluster" not in cmd.marks:
            failures.append(f"{where}: needs a Dask cluster: mark it [cluster]")
            continue
        if online or {"internet", "keys", "money", "cluster"} & set(cmd.marks):
            proc = subprocess.run(
                [sys.executable, "-m", "tradewind", *sub.split(), "--help"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if proc.returncode != 0:
                failures.append(f"{where}: --help exits {proc.returncode}")
            continue
        if "--speed" in args:
            i = args.index("--speed")
            args = args[:i] + args[i + 2 :]
        here = env
        if "../shared/data" in cmd.text:
            here = {**env, "TRADEWIND__DATA__PAIRS": json.dumps(REAL_PAIRS)}
        if sub == "serve":
            code, out = _serve(args, cwd, here)
        else:
            proc = subprocess.run(
                [sys.executable, "-m", "tradewind", *args],
                cwd=cwd,
                env=here,
                capture_output=True,
                text=True,
                timeout=900,
                stdin=subprocess.DEVNULL,
            )
            code, out = proc.returncode, proc.stdout + proc.stderr
        timings.append(f"{time.monotonic() - began:6.1f} s  {where}")
        if code != 0:
            failures.append(f"{where}: exit {code}\n{out[-2000:]}")
        elif name == "README.md" and sub == "demo" and not _AFTER_DEMO and not failures:
            kept = tmp_path / "after-demo"
            shutil.copytree(cwd / ".tradewind", kept / ".tradewind", symlinks=True)
            _AFTER_DEMO.append(kept)
    print("\n".join(timings))
    assert failures == [], "\n\n".join(failures)
