"""Dependencies point from adapters to the pure core, never back.

``tests/unit/ledger/test_purity.py`` holds the ledger to a stricter allow-list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tisa"
ADAPTERS = {"store", "exchange", "api", "cli", "config"}
IO_LIBRARIES = {"sqlite3", "sqlalchemy", "httpx", "starlette", "uvicorn", "socket", "requests",
                "subprocess", "psycopg", "typer", "rich", "os"}
#: the one place a pure layer touches the disk: key files written 0600
FILE_WRITERS = {"crypto/keys.py", "crypto/sealing.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["model", "agreements", "policy", "ledger", "crypto"])
def test_pure_layers_import_no_adapter_and_no_io_library(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        where = str(path.relative_to(SRC))
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "tisa" and len(parts) > 1 and parts[1] in ADAPTERS:
                offenders.append(f"{where} imports {name}")
            if parts[0] in IO_LIBRARIES and not (parts[0] == "os" and where in FILE_WRITERS):
                offenders.append(f"{where} imports {name}")
    assert offenders == []


def test_errors_module_imports_nothing_from_the_package() -> None:
    assert not [n for n in imports_of(SRC / "errors.py") if n.startswith("tisa")]
