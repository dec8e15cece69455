"""What every command shares: error reporting, exit codes, argument parsing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, NoReturn

import typer
from rich.console import Console

from tisa.errors import InvalidInput, TisaError

#: exit codes: 0 ok, 1 a check found a discrepancy, 2 bad input or unusable setup
EXIT_DISCREPANCY = 1
EXIT_BAD_INPUT = 2

#: soft wrap: a message line stays one line, whatever the terminal width
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
#: for boxed text (panels) that must wrap inside its box
boxed = Console(highlight=False)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn tisa's own errors into their diagnostics and exit code 2; no tracebacks."""
    try:
        yield
    except TisaError as exc:
        stderr.print("[bold red]error:[/] ", end="", markup=True)
        stderr.print(exc.diagnostics(), markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def parse_day(text: str, *, option: str = "--on") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: {text!r} is not a date; write YYYY-MM-DD") from None


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))
