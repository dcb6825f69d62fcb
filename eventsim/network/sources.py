"""Model-side input files must be regular files.

Opening a FIFO for reading blocks until a writer appears, and a character device such as
``/dev/zero`` never ends; neither can be a model, a checkpoint, a NIR graph, an energy table or
a manifest. :func:`require_regular_file` checks what ``path`` is (following symlinks, so a link
to a real file is fine) *before* anything opens it, and fails with one line.
"""

from __future__ import annotations

import os
import stat

from ..errors import EventsimError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def require_regular_file(path: str | os.PathLike, what: str, error: type[EventsimError]) -> None:
    """Raise ``error`` naming ``path`` unless it is (a symlink to) a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{os.fspath(path)}: no such file") from None
    except OSError as exc:
        raise error(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise error(f"{os.fspath(path)}: is {kind}; {what} must be a regular file")
