"""Shared CLI plumbing: the error edge, signals, input/output paths and output helpers.

One rule for every command, enforced here rather than in each command:
- expected failures (EventsimError, OSError) and usage errors print one line ``error: ...`` on
  stderr and exit 2 (``--debug`` shows the traceback of the former instead);
- Ctrl-C (SIGINT) and SIGTERM remove temporary files (the ``finally`` of
  :func:`~eventsim.files.atomic_output` runs), leave existing outputs as they were, print one
  line and exit 130 / 143;
- a closed stdout (``eventsim ... | head``) ends the command quietly with exit 141 (128 + SIGPIPE);
- no output path may be one of the command's inputs (:class:`OutputPath`, :class:`InputPath`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import warnings

import click

from .. import files
from ..errors import EventsimError
from ..files import (
    Terminated,
    after_commit,
    deferred_commits,
    json_text,
    note_signal,
    output_size,
    refuse_overwriting_inputs,
    resolve_output,
    write_text_atomic,
)

EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM
EXIT_SIGPIPE = 128 + signal.SIGPIPE


class UserError(click.ClickException):
    """An expected failure: printed as one line ``error: ...``, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {one_line(self.format_message())}", err=True)


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped (``\\n``, ``\\x1b``): file
    names and values from files end up in messages, and a message stays one line that cannot
    move the cursor or recolour the terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


@contextlib.contextmanager
def _one_line_warnings():
    """Warnings (e.g. events skipped outside the sensor) as one ``warning: ...`` line each,
    without Python's file name and source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"warning: {one_line(str(message))}", err=True)

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


class Interrupted(UserError):
    """SIGINT (exit 130) or, as :class:`_TerminatedError`, SIGTERM (exit 143): one line. Made by
    :func:`interruption`, which picks the class from the exception the signal raised."""

    exit_code = EXIT_SIGINT
    what = "interrupted"

    def __init__(self, detail: str = ""):
        super().__init__(self.what + detail)


class _TerminatedError(Interrupted):
    exit_code = EXIT_SIGTERM
    what = "terminated (SIGTERM)"


def interruption(cause: BaseException | None, detail: str = "") -> Interrupted:
    """The error to report for the signal that raised ``cause`` (KeyboardInterrupt or Terminated)."""
    return _TerminatedError(detail) if isinstance(cause, Terminated) else Interrupted(detail)


class _ClosedStdout(click.ClickException):
    """stdout was closed by its reader: nothing more to say to anyone."""

    exit_code = EXIT_SIGPIPE

    def show(self, file=None) -> None:
        # Later flushes (interpreter exit) would fail again and print a traceback: point
        # stdout at /dev/null for the rest of the process.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def install_signal_handlers() -> None:
    """SIGINT raises KeyboardInterrupt and SIGTERM :class:`~eventsim.files.Terminated` in the main
    thread (the process entry point calls this); both are recorded first, so that an interrupt
    Python drops (raised inside a weakref callback or ``__del__``) still stops the outputs from
    being committed, and ignored once they are (:func:`~eventsim.files.deferred_commits`)."""
    def interrupt(signum, frame):
        if note_signal(signum):
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def unraisable(info):
        # The interrupt is recorded and ends the command at its commit: no traceback for the
        # copy Python could not raise (it landed in a weakref callback or a __del__).
        if not isinstance(info.exc_value, KeyboardInterrupt):
            sys.__unraisablehook__(info)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    sys.unraisablehook = unraisable
    files.ignore_signals_after_commit()


def _usage_line(exc: click.UsageError) -> str:
    msg = " ".join(exc.format_message().split())
    where = exc.ctx.command_path if exc.ctx is not None else ""
    return f"{msg} (see '{where} --help')" if where else msg


class EventsimGroup(click.Group):
    """A click group that applies the rules of this module's docstring to every command below it."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise interruption(exc) from None
        except BrokenPipeError:  # only stdout's reaches here: files turn an output's into OutputError
            raise _ClosedStdout("") from None
        except MemoryError:  # readers name the file where they can; this is the last resort
            if (ctx.find_root().obj or {}).get("debug"):
                raise
            raise UserError("out of memory (the input or the options ask for more than this "
                            "machine has)") from None
        except (EventsimError, OSError) as exc:
            root = ctx.find_root()
            if (root.obj or {}).get("debug"):
                raise
            if isinstance(exc, OSError) and not isinstance(exc, EventsimError):
                name = f"{exc.filename}: " if exc.filename else ""
                raise UserError(f"{name}{exc.strerror or exc}") from None
            raise UserError(str(exc)) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with usage errors as one ``error:`` line and the exits of this module."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with _one_line_warnings():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()  # a closed pipe shows here at the latest, not at interpreter exit
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text, as click prints it
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            click.echo(f"error: {one_line(_usage_line(exc))}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt) as exc:  # outside a command (parsing, a prompt)
            err = interruption(exc.__cause__ if isinstance(exc, click.Abort) else exc)
            err.show()
            sys.exit(err.exit_code)
        except BrokenPipeError:
            _ClosedStdout("").show()
            sys.exit(EXIT_SIGPIPE)
        sys.exit(rv if isinstance(rv, int) else 0)


class InputPath(click.Path):
    """A file the command reads: no output of the command may be (or link to) it."""


class OutputPath(click.Path):
    """A file the command writes; checked before the command runs (see :class:`EventsimCommand`)."""

    def __init__(self, allow_dash: bool = True):
        # What may be written is decided by eventsim.files (folders, devices, links), not click.
        super().__init__(allow_dash=allow_dash, readable=False)


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses nan and infinities (nan passes every comparison of a range,
    and either would end up in a report or in a model's provenance)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


class EventsimCommand(click.Command):
    """A command whose :class:`OutputPath` values are checked before it does any work: each
    must be writable (:func:`~eventsim.files.resolve_output`) and none may be an input."""

    def invoke(self, ctx: click.Context):
        inputs, outputs = [], []
        for param in self.params:
            values = ctx.params.get(param.name)
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            if isinstance(param.type, OutputPath):
                outputs += [v for v in values if v is not None]
            elif isinstance(param.type, InputPath):
                inputs += [v for v in values if v is not None]
        for out in outputs:
            resolve_output(out)
        refuse_overwriting_inputs(outputs, inputs)
        with deferred_commits(exits=(SystemExit, click.exceptions.Exit)):
            return super().invoke(ctx)


def emit_json(doc, target: str | None) -> None:
    """Write a JSON document (strict: no NaN or infinity) to ``target``; ``-`` is stdout."""
    if target:
        what = "stdout" if target == "-" else target
        write_text_atomic(target, json_text(doc, what=what, indent=2) + "\n")
        say_written(target)


def say_written(path, detail: str = "") -> None:
    """One line on stderr, ``wrote PATH (size)`` (``: detail`` after it); nothing for stdout (``-``)."""
    if path is None or str(path) == "-":
        return
    line = f"wrote {path} ({format_size(output_size(path))})" + (f": {detail}" if detail else "")
    after_commit(lambda: click.echo(line, err=True))


def format_size(n: int) -> str:
    """``812 B``, ``15.2 KB``, ``3.40 MB`` (powers of 1000)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 999.5 or unit == "TB":
            return f"{size:.3g} {unit}" if size < 100 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


@contextlib.contextmanager
def stage_bar(desc: str):
    """A progress callback ``(stage, done, total)`` drawing a bar on stderr when it is a terminal;
    None (no output at all) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=desc, unit="stage", file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        def progress(stage: str, done: int, total: int) -> None:
            bar.total = total
            bar.set_postfix_str(stage, refresh=False)
            bar.update(done - bar.n)
            bar.refresh()  # stages are seconds apart: draw each one, not only after tqdm's interval

        yield progress


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
