"""Shared CLI plumbing: the error edge, output helpers and reusable options."""

from __future__ import annotations

import json
import sys

import click

from ..errors import EventsimError
from ..files import write_text_atomic


class UserError(click.ClickException):
    """An expected failure: printed as one line ``error: ...``, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class EventsimGroup(click.Group):
    """A click group that turns EventsimError / OSError into UserError unless ``--debug``."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (EventsimError, OSError) as exc:
            root = ctx.find_root()
            if (root.obj or {}).get("debug"):
                raise
            if isinstance(exc, OSError) and not isinstance(exc, EventsimError):
                name = f"{exc.filename}: " if exc.filename else ""
                raise UserError(f"{name}{exc.strerror or exc}") from None
            raise UserError(str(exc)) from None


def emit_json(doc, target: str | None) -> None:
    """Write a JSON document to ``target``: ``-`` is stdout, else a file written atomically."""
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
    elif target:
        write_text_atomic(target, text)


def format_table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; ``align`` has one 'l' or 'r' per column (numbers right by default)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l"
                        for i in range(len(headers)))
    lines = []
    for k, row in enumerate(cells):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
