"""Writing output files safely, and fingerprinting input files.

Every file eventsim writes goes through this module. What happens depends on what the output
path is (:func:`resolve_output`):

- a regular file, or a name that does not exist yet: the content goes to a temporary file next
  to it, renamed into place only once complete (:func:`atomic_output`), so an error, Ctrl-C or
  SIGTERM never leaves a partial output and never changes an existing one;
- a symbolic link (or a chain of links): the same, at the final target's location; the links
  stay links, and the file they point to gets the new content;
- a FIFO or a character device: written straight into (a rename would replace the device or
  the pipe with a plain file);
- ``-``: standard output;
- anything else (a folder, a socket, a block device, a link loop): refused with OutputError.

Errors name the path the user gave, never the temporary one. This module sits below every other
part of the package (like ``errors``), so any layer may use it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

from .errors import EventsimError, OutputError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # not POSIX: results files are not locked
    fcntl = None

#: characters of randomness ``tempfile.mkstemp`` puts between prefix and suffix
_RANDOM_CHARS = 8
#: failures of a write that are about the output even when the error does not name a file
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


@dataclass(frozen=True)
class Target:
    """Where and how an output path is written."""

    kind: str  # "file" (temp + rename), "stream" (FIFO / character device: straight) or "stdout"
    path: str  # what to write: a link's final target, or the path itself
    mode: int | None = None  # permission bits of an existing regular file (kept on replace)


def default_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give a new file (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def resolve_output(path: str | os.PathLike) -> Target:
    """How ``path`` is written; OutputError (naming ``path``) when it cannot be."""
    name = os.fspath(path)
    if name == "-":
        return Target("stdout", name)
    _check_file_name(name)
    real = os.path.realpath(name)  # follows a whole chain of links; a dangling link gives its target
    try:
        st = os.stat(real)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENAMETOOLONG):  # a link loop, a closed folder
            raise OutputError(f"{name}: cannot write there: {exc.strerror}") from None
        _check_new_file(name, real)
        return Target("file", real)
    if stat.S_ISREG(st.st_mode):
        if not os.access(real, os.W_OK):  # a rename would get round the file's own permissions
            raise OutputError(f"{name}: permission denied (the file is not writable)")
        return Target("file", real, stat.S_IMODE(st.st_mode))
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return Target("stream", real)
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{name}: is a folder; give a file name")
    raise OutputError(f"{name}: is a {_file_kind(st.st_mode)}, not a file, FIFO or character "
                      "device; eventsim does not write to it")


def _check_file_name(name: str) -> None:
    """Refuse names that cannot be a file: ``realpath`` would turn ``notes.txt/`` into
    ``notes.txt`` and the file would be replaced although the user named a folder."""
    if not name:
        raise OutputError("an empty output name; give a file name")
    if "\0" in name:
        raise OutputError(f"{name!r}: a file name cannot contain a NUL character")
    seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
    if name.endswith(seps) or os.path.basename(name) in (".", ".."):
        raise OutputError(f"{name}: names a folder; give a file name")


def _file_kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _check_new_file(name: str, real: str) -> None:
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        shown = folder if os.path.islink(name) else (os.path.dirname(name) or ".")
        where = " (where the link points)" if os.path.islink(name) else ""
        raise OutputError(f"{name}: the folder {shown}{where} does not exist")
    size, limit = len(os.fsencode(os.path.basename(real))), _name_max(folder)
    if size > limit:
        raise OutputError(f"{name}: the file name is {size} bytes long; the file system allows {limit}")


def temp_affixes(name: str, limit: int = 255) -> tuple[str, str]:
    """Prefix and suffix of the temporary file for ``name``: ``.<name>.XXXXXXXX.tmp<ext>``, the
    name shortened so that the whole stays within ``limit`` bytes. The extension is kept because
    some writers (``np.savez``, matplotlib) choose their format from it."""
    stem, ext = os.path.splitext(name)
    suffix = ".tmp" + ext
    if len(os.fsencode(suffix)) > limit // 2:  # no writer needs an extension this long
        suffix = ".tmp"
    room = limit - len(os.fsencode(suffix)) - _RANDOM_CHARS - 2  # 2: the dots around the stem
    return "." + os.fsdecode(os.fsencode(stem)[:max(room, 0)]) + ".", suffix


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield the path a writer should write ``path``'s content to (see the module docstring).

    For a regular file that is a temporary file next to the target, renamed onto it when the
    block succeeds (inside :func:`deferred_commits`: when the whole command succeeds) and
    removed on any exception (KeyboardInterrupt included).
    """
    name = os.fspath(path)
    target = resolve_output(name)
    if target.kind == "stdout":
        with _spooled_to_stdout() as spool:
            yield spool
        return
    if target.kind == "stream":
        with _user_path_in_errors(name, target.path, stream=True):
            yield target.path
        return
    folder, base = os.path.split(target.path)
    prefix, suffix = temp_affixes(base, _name_max(folder))
    tmp: str | None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as exc:
        raise OutputError(f"{name}: cannot create a file in {folder}: {exc.strerror}") from None
    os.close(fd)
    try:
        with _user_path_in_errors(name, tmp):
            yield tmp
            # mkstemp makes 0600: give a new file the usual permissions, a replaced one its own
            os.chmod(tmp, default_file_mode() if target.mode is None else target.mode)
        if _commits["pending"] is not None:
            _commits["pending"].append((tmp, target.path, name))
        else:
            _commit([(tmp, target.path, name)])
        tmp = None  # renamed, or owned by the pending commit
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


# -- interrupts and the commit of a command's outputs -------------------------------------------

class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""


#: "signal": the first SIGINT/SIGTERM received; "pending": renames waiting for the end of the
#: command (None outside :func:`deferred_commits`); "done": the outputs are in place;
#: "ignore_after": the process entry point's wish to ignore both signals once they are
#: "after": what to do once the outputs are in place (messages saying they were written)
_commits: dict = {"signal": None, "pending": None, "done": False, "ignore_after": False, "after": []}
_BLOCKED = {signal.SIGINT, signal.SIGTERM}


def note_signal(signum: int) -> bool:
    """Record a SIGINT/SIGTERM (the CLI's handler calls this). False when the command's outputs
    are already committed: the work is complete and the signal changes nothing."""
    if _commits["done"]:
        return False
    if _commits["signal"] is None:
        _commits["signal"] = signum
    return True


def output_size(path: str | os.PathLike) -> int:
    """Bytes written to output ``path``: its pending temporary file while the command's outputs
    wait for their commit (:func:`deferred_commits`), else the file itself."""
    name = os.fspath(path)
    for tmp, target, user_name in _commits["pending"] or ():
        if name in (user_name, target):
            return os.path.getsize(tmp)
    return os.path.getsize(name)


def after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` once the command's outputs are in place (at once outside
    :func:`deferred_commits`); never when they are not (a "wrote FILE" line must not be printed
    for an output that an interrupt then leaves as it was)."""
    if _commits["pending"] is None:
        action()
    else:
        _commits["after"].append(action)


def _run_after_commit() -> None:
    actions, _commits["after"] = _commits["after"], []
    for action in actions:
        action()


def interrupt_handled() -> None:
    """A command that ends normally on Ctrl-C (``run --follow``: the summary so far, exit 0) says
    so: the recorded signal then no longer stops the commit of its outputs."""
    _commits["signal"] = None


def ignore_signals_after_commit() -> None:
    """Once a command's outputs are committed, SIGINT and SIGTERM are ignored (process entry
    point only: a test runner calling the CLI in-process keeps its own handlers)."""
    _commits["ignore_after"] = True


def _raise_if_signalled() -> None:
    # A KeyboardInterrupt raised inside a weakref callback or __del__ is printed and dropped by
    # Python; the recorded signal still stops the commit.
    if _commits["signal"] == signal.SIGTERM:
        raise Terminated()
    if _commits["signal"] is not None:
        raise KeyboardInterrupt()


@contextlib.contextmanager
def deferred_commits(exits: tuple[type[BaseException], ...] = (SystemExit,)) -> Iterator[None]:
    """Outputs written inside the block are renamed into place together when it ends without an
    exception and without a signal having arrived, so an interrupted or failed command leaves
    every existing output as it was, not some replaced and some not. ``exits``: exceptions that
    end a command on purpose (e.g. exit code 1 for a failed validation) and still commit."""
    if _commits["pending"] is not None:  # nested: the outer block commits
        yield
        return
    pending: list = []
    _commits.update(pending=pending, done=False, signal=None, after=[])
    try:
        try:
            yield
        except exits:
            _commit(pending, final=True)
            _run_after_commit()
            raise
        _commit(pending, final=True)
        _run_after_commit()
    finally:
        _commits.update(pending=None, after=[])
        for tmp, _, _ in pending:
            if os.path.lexists(tmp):
                os.unlink(tmp)


def _commit(renames: list[tuple[str, str, str]], final: bool = False) -> None:
    """Rename every (temp, target, user's name) with SIGINT/SIGTERM held back, after checking
    that none arrived. ``final``: the command's last step; a signal held back arrives after the
    commit and is then ignored (the outputs are complete)."""
    mask = getattr(signal, "pthread_sigmask", None)
    old = mask(signal.SIG_BLOCK, _BLOCKED) if mask else None
    try:
        _raise_if_signalled()
        for tmp, target, name in renames:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise OutputError(f"{name}: cannot write: {exc.strerror or exc}") from None
        _commits["done"] = final
        if final and _commits["ignore_after"]:
            # Python restores the default handlers while it shuts down: a signal arriving then
            # would kill a process whose work is complete. Ignoring it also drops one held back.
            for signum in _BLOCKED:
                signal.signal(signum, signal.SIG_IGN)
    finally:
        if mask:
            mask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _user_path_in_errors(name: str, written: str, stream: bool = False) -> Iterator[None]:
    """Errors of a writer name ``name`` (what the user gave), not ``written`` (a temp file)."""
    try:
        yield
    except EventsimError as exc:
        if written != name and written in str(exc):
            exc.args = (str(exc).replace(written, name),)
        raise
    except OSError as exc:
        ours = (exc.filename == written or written in str(exc) or exc.errno in _OUTPUT_ERRNOS
                or (stream and isinstance(exc, BrokenPipeError)))
        if not ours:  # e.g. reading an input inside the block
            raise
        if isinstance(exc, BrokenPipeError):
            why = "the reader closed the pipe"
        elif exc.errno == errno.ESPIPE:  # h5py into a FIFO: HDF5 seeks
            why = "this format needs a seekable file, not a pipe or a device"
        else:  # h5py's messages span lines and name the temp file
            why = " ".join((exc.strerror or str(exc)).replace(written, name).split())
        raise OutputError(f"{name}: cannot write: {why}") from None


@contextlib.contextmanager
def _spooled_to_stdout() -> Iterator[str]:
    """A temporary file whose content goes to stdout when the block succeeds: writers that need
    a path (h5py, matplotlib) can write ``-`` too, and a failed write prints nothing."""
    fd, tmp = tempfile.mkstemp(suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        sys.stdout.flush()
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    finally:
        os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` as :func:`atomic_output` does; ``-`` is stdout."""
    if os.fspath(path) == "-":
        sys.stdout.write(text)
        return
    with atomic_output(path) as out, open(out, "w", encoding="utf-8") as f:
        f.write(text)


def refuse_overwriting_inputs(outputs: Iterable[str | None], inputs: Iterable[str | None]) -> None:
    """OutputError when an output is one of the inputs, or the same file as another output.

    Sameness is by device and inode (``os.stat`` follows links), so a symlink or a hard link to
    an input is caught; outputs that do not exist yet are compared by their resolved path.
    ``None`` and ``-`` are skipped.
    """
    seen: dict = {}
    for name in inputs:
        key = _identity(name)
        if key is not None:
            seen.setdefault(key, name)
    outs: dict = {}
    for name in outputs:
        key = _identity(name)
        if key is None or name is None:
            continue
        if key in seen:
            same = "" if os.fspath(seen[key]) == os.fspath(name) else f" (the same file as {seen[key]})"
            raise OutputError(f"{name}: is an input of this command{same}; eventsim never "
                              "overwrites its inputs: choose another output name")
        if key in outs and not _is_stream(name):  # writing twice into one pipe is fine
            raise OutputError(f"{name}: given as two outputs (also as {outs[key]}); each output "
                              "needs its own file")
        outs[key] = name


def _identity(name: str | None):
    if name is None or os.fspath(name) == "-":
        return None
    try:
        st = os.stat(name)
    except OSError:
        return ("path", os.path.realpath(name))
    except ValueError:  # a NUL in a name read from a manifest: no file can have it
        return None
    return (st.st_dev, st.st_ino)


def _is_stream(name: str) -> bool:
    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


# -- JSON -------------------------------------------------------------------------------------

def json_text(doc, *, what: str, **options) -> str:
    """``json.dumps(doc, **options)`` as strict JSON: NaN and infinities are refused with an
    OutputError naming ``what`` (the output) and the first field that holds one."""
    try:
        return json.dumps(doc, allow_nan=False, **options)
    except ValueError as exc:
        if "Out of range float" not in str(exc):  # e.g. a circular reference: a bug, not input
            raise
        field, value = _non_finite_field(doc)
        raise OutputError(f"{what}: {field} is {value}; JSON holds finite numbers only") from None


def _non_finite_field(doc) -> tuple[str, float]:
    """The path (``a.b[2]``) and value of the first NaN or infinity in ``doc``, depth first."""
    stack = [("", doc)]
    while stack:  # iterative: a deeply nested document must not hit the recursion limit
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where or "the value", value
        if isinstance(value, dict):
            items = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))
    return "a value", math.nan  # not reached: json.dumps found one


# -- append-only files shared between runs (eval --results) --------------------------------

def open_locked_append(path: str | os.PathLike) -> int:
    """A descriptor of ``path`` (created when missing) opened for reading and appending, with an
    exclusive lock held until it is closed: a second eventsim process that asks for the same
    file is refused with an OutputError naming the holder (pid and start, where /proc says)."""
    name = os.fspath(path)
    target = resolve_output(name)
    if target.kind != "file":
        raise OutputError(f"{name}: must be a regular file (it is appended to and read back)")
    fd = os.open(target.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        raise OutputError(f"{name}: in use by another eventsim run{holder}; wait for it to "
                          "finish or choose another file") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_record(fd: int, data: bytes) -> None:
    """Append ``data`` (one whole record) with one ``write`` on an O_APPEND descriptor, so a
    record is never interleaved with another writer's; loops only if the kernel writes less."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _lock_holder(fd: int) -> str:
    """`` (pid N, started ...)`` of the process holding a flock on ``fd``'s file, or ''."""
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii") as f:
            # e.g. "3: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF"; waiters carry a "->" field
            holders = [ln.split() for ln in f if " FLOCK " in ln and "->" not in ln]
        pid = next(int(p[p.index(key) - 1]) for p in holders if key in p)
    except (OSError, ValueError, StopIteration):
        return ""
    return f" (pid {pid}{_started(pid)})"


def _started(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start, ticks after boot
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(ln.split()[1]) for ln in f if ln.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return ""
    start = boot + ticks / os.sysconf("SC_CLK_TCK")
    return ", started " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
