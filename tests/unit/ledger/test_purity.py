"""The ledger is a pure core: no I/O, no HTTP, no adapters; every public name exported."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import tisa.ledger

ALLOWED = {
    "__future__",
    "base64",
    "binascii",
    "collections",
    "collections.abc",
    "dataclasses",
    "datetime",
    "enum",
    "hashlib",
    "hmac",
    "json",
    "re",
    "struct",
    "typing",
    "tisa.errors",
    "tisa.crypto.keys",
}
MODULES = sorted(m.name for m in pkgutil.iter_modules(tisa.ledger.__path__))


def _tree(name: str) -> ast.Module:
    path = Path(tisa.ledger.__path__[0]) / f"{name}.py"
    return ast.parse(path.read_text())


@pytest.mark.parametrize("name", MODULES)
def test_imports_only_pure_modules(name: str) -> None:
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [node.module or ""]
        else:
            continue
        for mod in mods:
            assert mod in ALLOWED or mod.startswith(("cryptography.", "tisa.ledger.")), (
                f"tisa.ledger.{name} imports {mod}"
            )


@pytest.mark.parametrize("name", MODULES)
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(f"tisa.ledger.{name}")
    public = set()
    for node in _tree(name).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            public.add(node.name)
        elif isinstance(node, ast.Assign):
            public.update(t.id for t in node.targets if isinstance(t, ast.Name))
    public = {p for p in public if not p.startswith("_")}
    assert public == set(module.__all__)
