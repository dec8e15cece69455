"""The exception tree of tisa. This module imports nothing from the package.

::

    TisaError                 root; ``diagnostics()`` explains it to a person
    ├── InvalidInput          bad input from a file, a flag or a request
    │   └── NetworkFileError  a network file with one or more problems
    ├── ConfigError           a node home or setting that cannot be used
    ├── NotFound              something named does not exist
    ├── Denied                a rule forbids it (routing, access, policy)
    ├── Conflict              it contradicts what is already recorded
    ├── VerificationError     a signature, proof or envelope did not verify
    └── IntegrityError        stored state is inconsistent; never downgraded

Callers at a trust boundary collapse ``VerificationError`` into one opaque
answer to the peer and log the detail; HTTP codes exist only in ``tisa.api``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TisaError(Exception):
    """Root of every error tisa raises on purpose."""

    def diagnostics(self) -> str:
        """A human explanation: what went wrong, where, and how to fix it."""
        return str(self)


class InvalidInput(TisaError):
    """Input that cannot be used as given."""


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One problem in a file: where it is, which field, and what is wrong."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class NetworkFileError(InvalidInput):
    """A network file with one or more problems, all of them listed."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)")

    def diagnostics(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s):"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)


class ConfigError(TisaError):
    """A node home, key file or setting that cannot be used."""


class NotFound(TisaError):
    """Something named does not exist."""


class Denied(TisaError):
    """A rule forbids the action."""


class Conflict(TisaError):
    """The request contradicts what is already recorded."""


class VerificationError(TisaError):
    """A signature, envelope or proof did not verify.

    ``str(exc)`` is the opaque answer a peer may see; ``detail`` says what
    exactly failed and belongs in the local log only.
    """

    def __init__(self, message: str = "did not verify", *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class IntegrityError(TisaError):
    """Stored state is inconsistent. Fatal for the operation; never a warning."""
