"""The ``httsleep`` command's entry point (also ``python -m httsleep``).

Only this small module (and the package's ``__init__``, which imports
nothing heavy) stands between the interpreter starting and a Ctrl-C
handler. While the command itself (:mod:`httsleep.cli`, requests and the
rest) is imported, Ctrl-C only sets a flag: a ``KeyboardInterrupt`` raised
inside the import machinery can be swallowed by it ("Exception ignored
in ...") and lost. Once the imports are done, an interrupt that came
during them ends the command quietly with exit code 130, and from then on
Ctrl-C is handled by the command (no traceback either).

A standard stream the shell closed (``2>&-``, ``>&-``, ``<&-``) stays
closed for the command (``sys.stderr`` is ``None``...), but its file
descriptor is held on ``/dev/null``: a file or a socket the command opens
must not get descriptor 1 or 2, and with it the output of a ``-- COMMAND``.
"""

import os
import signal
import sys

EXIT_INTERRUPTED = 130


def _hold_closed_standard_descriptors() -> None:
    """Open ``/dev/null`` on the descriptors 0, 1 and 2 that are closed (Python's ``sys`` streams stay ``None``)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:  # closed: the lowest free descriptor, since the ones below are open by now
            held = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if held != fd:  # pragma: no cover - another thread opened it first
                os.dup2(held, fd)
                os.close(held)


def _say_interrupted() -> None:
    try:
        sys.stderr.write("\nhttsleep: interrupted\n")
    except (AttributeError, OSError, ValueError):  # stderr closed or full: the exit code says it
        pass


def main() -> int:
    """Import and run the command; Ctrl-C at any point exits 130 without a traceback."""
    _hold_closed_standard_descriptors()
    interrupted = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    except ValueError:  # not the main thread (main() called by a program of the caller's): no handler to set
        previous = None
    try:
        from .cli import main as run
    except KeyboardInterrupt:  # Ctrl-C before the flag was set
        interrupted.append(signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        if interrupted:
            raise KeyboardInterrupt
        return run()
    except KeyboardInterrupt:
        _say_interrupted()
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
