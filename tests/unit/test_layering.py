"""Dependencies point from adapters to the pure core, never back."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "tisa"
PURE = ("model", "agreements", "policy", "ledger")
ADAPTERS = ("store", "exchange", "api", "cli", "config")
IO_MODULES = {
    "sqlite3",
    "sqlalchemy",
    "httpx",
    "starlette",
    "uvicorn",
    "socket",
    "requests",
    "os",
    "subprocess",
    "typer",
    "rich",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_core_imports_no_adapter_and_no_io_library() -> None:
    offenders = []
    for package in PURE:
        for path in sorted((SRC / package).rglob("*.py")):
            for name in imports_of(path):
                top = name.split(".")[0]
                if name.startswith("tisa.") and name.split(".")[1] in ADAPTERS:
                    offenders.append(f"{path.relative_to(SRC)} imports {name}")
                if top in IO_MODULES:
                    offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


def test_errors_module_imports_nothing_from_the_package() -> None:
    assert not [n for n in imports_of(SRC / "errors.py") if n.startswith("tisa")]
