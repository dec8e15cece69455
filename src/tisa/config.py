"""The only module that reads files and the environment."""

from __future__ import annotations

from pathlib import Path

from tisa.agreements.network_file import parse_network
from tisa.errors import InvalidInput, NetworkFileError, Problem
from tisa.model.network import Network
from tisa.policy.release_policy import PolicyFile


def read_text_file(path: Path, *, what: str) -> str:
    """Read a UTF-8 text file, turning OS and encoding errors into a clear ``InvalidInput``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, expected a {what}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the {what} ({exc.strerror})") from None


def load_network(path: Path) -> Network:
    """Read and validate a network file; ``NetworkFileError`` lists every problem."""
    try:
        text = read_text_file(path, what="network file")
    except InvalidInput as exc:
        raise NetworkFileError(
            str(path), [Problem(where="file", field="path", message=str(exc))]
        ) from None
    return parse_network(text, source=str(path))


def load_policy_files(paths: list[Path]) -> list[PolicyFile]:
    """Read a node's extra Cedar policy files (checked when the policy is built)."""
    return [PolicyFile(name=str(p), text=read_text_file(p, what="policy file")) for p in paths]
