"""One way for every command to turn a ``TisaError`` into a message and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from tisa.errors import TisaError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TisaError as exc:
            print(f"error: {exc.diagnostics()}", file=sys.stderr)
            raise typer.Exit(2) from None

    return run
