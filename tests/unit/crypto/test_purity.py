"""The crypto layer is pure: no network, database or process I/O, no adapters."""

from __future__ import annotations

import ast
from pathlib import Path

CRYPTO = Path(__file__).resolve().parents[3] / "src" / "tisa" / "crypto"
FORBIDDEN = {
    "sqlite3",
    "sqlalchemy",
    "httpx",
    "starlette",
    "uvicorn",
    "socket",
    "requests",
    "subprocess",
    "psycopg",
    "typer",
    "rich",
}
ADAPTERS = {"store", "exchange", "api", "cli", "config"}
FILE_WRITERS = {"keys.py"}  # key files 0600: the one place crypto touches the disk


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_crypto_imports_no_io_library_and_no_adapter() -> None:
    offenders = []
    for path in sorted(CRYPTO.glob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] in FORBIDDEN or (parts[0] == "os" and path.name not in FILE_WRITERS):
                offenders.append(f"{path.name} imports {name}")
            if parts[0] == "tisa" and len(parts) > 1 and parts[1] in ADAPTERS:
                offenders.append(f"{path.name} imports {name}")
    assert offenders == []
