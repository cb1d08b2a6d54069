"""Dependencies point one way (DESIGN §5): a layer imports only the layers before it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tradewind"

#: package → the tradewind packages it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "domain": {"errors"},
    "config": {"errors", "domain"},
    "data": {"errors", "domain", "config"},
    "strategies": {"errors", "domain", "config", "data"},
    "portfolio": {"errors", "domain", "config", "data"},
    "features": {"errors", "domain", "config", "data"},
    "ml": {
        "errors",
        "domain",
        "config",
        "data",
        "features",
        "strategies",
        "portfolio",
        "engine",
        "store",
        "__init__",
    },
    "engine": {"errors", "domain", "config", "data", "strategies", "portfolio"},
    "trading": {
        "errors",
        "domain",
        "config",
        "data",
        "strategies",
        "portfolio",
        "engine",
        "store",
        "features",
        "ml",
    },
    "backtest": {
        "errors",
        "domain",
        "config",
        "data",
        "strategies",
        "portfolio",
        "engine",
        "trading",
        "store",
        "features",
        "ml",
    },
    "venues": {"errors", "domain", "config", "data"},
    # The node composes its trader as a backtest does (run_inputs): one implementation.
    "live": {
        "venues",
        "errors",
        "domain",
        "config",
        "data",
        "strategies",
        "portfolio",
        "engine",
        "trading",
        "backtest",
        "store",
        "features",
        "ml",
        "__init__",
    },
    "store": {"errors", "domain", "config", "data", "strategies", "portfolio", "engine"},
    # The status server reads the trade book and the running node (never the other way).
    "api": {"errors", "domain", "config", "data", "engine", "store", "live", "__init__"},
    "testing": {"errors", "domain", "config", "data"},
    "cli": {
        "errors",
        "domain",
        "config",
        "data",
        "strategies",
        "portfolio",
        "engine",
        "trading",
        "backtest",
        "store",
        "testing",
        "features",
        "ml",
        "live",
        "venues",
        "api",
        "__init__",
    },
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + (
                [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "tradewind"
                else []
            )
        for name in names:
            parts = name.split(".")
            if parts[0] == "tradewind":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if _package(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_earlier_layers(path: Path) -> None:
    package = _package(path)
    wrong = {
        name
        for name in _imports(path) - {package}
        # the package root holds only the version
        if name not in ALLOWED[package] and name not in {"__version__", "__init__"}
    }
    assert wrong == set(), f"{path.relative_to(SRC)} imports {sorted(wrong)} ({package} may not)"


def test_every_package_has_a_layer() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__", "py"}
    assert packages <= set(ALLOWED)
