"""Shared CLI plumbing: the error edge, output helpers and reusable options."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from ..errors import EventsimError


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


def default_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give a new file (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + rename, so no partial file is left behind."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
