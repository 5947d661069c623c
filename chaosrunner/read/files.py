"""Reading an input file safely: a regular file, of bounded size, UTF-8 text — or a clear error.

Every file chaosrunner reads because a user named it (an experiment, an inventory, a secret in
``${file:...}``) goes through ``read_text``. What it refuses, and why:

- anything but a regular file: ``/dev/zero`` would be read until memory runs out, a FIFO would
  block forever waiting for a writer, a directory cannot be read. The file is opened with
  ``O_NONBLOCK`` (opening a FIFO does not wait) and checked with ``fstat`` on the open
  descriptor (what was checked is what is read);
- more than ``MAX_FILE_BYTES``: an experiment or inventory is a few kilobytes;
- bytes that are not UTF-8, located by line and column.

Each refusal is an ``UnreadableFile``, an ``OSError`` (callers that already handle a missing or
unreadable file handle these too) whose message says what the path is and what to do.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

#: The largest input file read. Experiments and inventories are a few KB; more is a mistake.
MAX_FILE_BYTES = 4 * 1024 * 1024

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


class UnreadableFile(OSError):
    """A path that is not a regular UTF-8 text file of sensible size.

    Its text is ``problem``: what is wrong, without the path (callers name it, or locate their message
    at it); ``hint`` says what to do; ``line`` and ``column`` locate a bad byte.
    """

    def __init__(self, path: Path | str, problem: str, hint: str, line: int = 0, column: int = 0):
        super().__init__(problem)
        self.path, self.problem, self.hint, self.line, self.column = str(path), problem, hint, line, column

    def __str__(self) -> str:
        return self.problem


def read_text(path: Path | str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of the regular file ``path`` (UTF-8, at most ``limit`` bytes).

    FileNotFoundError and PermissionError as ``open`` raises them; UnreadableFile for a path that
    is not a regular file, is too large or is not UTF-8 text.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise UnreadableFile(path, f"this is {kind}, not a file chaosrunner can read",
                                 "give the path of a YAML or JSON file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(path, f"the file is larger than {limit // (1024 * 1024)} MB",
                             "an experiment or inventory is a few KB: is this the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[data.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")) + 1
        raise UnreadableFile(path, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, "
                                   f"column {column})", "save it as UTF-8 (is it a binary file?)",
                             line, column) from None
