"""The ``httsleep`` command's entry point (also ``python -m httsleep``).

Only this small module (and the package's ``__init__``, which imports
nothing heavy) stands between the interpreter starting and a Ctrl-C
handler. While the command itself (:mod:`httsleep.cli`, requests and the
rest) is imported, Ctrl-C only sets a flag: a ``KeyboardInterrupt`` raised
inside the import machinery can be swallowed by it ("Exception ignored
in ...") and lost. Once the imports are done, an interrupt that came
during them ends the command quietly with exit code 130, and from then on
Ctrl-C is handled by the command (no traceback either).
"""

import signal
import sys

EXIT_INTERRUPTED = 130


def main() -> int:
    """Import and run the command; Ctrl-C at any point exits 130 without a traceback."""
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
        sys.stderr.write("\nhttsleep: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
