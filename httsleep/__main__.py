"""The ``httsleep`` command's entry point (also ``python -m httsleep``).

Only this tiny module stands between the interpreter starting and a
Ctrl-C handler: the command itself (:mod:`httsleep.cli`, requests and the
rest) is imported inside :func:`main`, so that interrupting a command that
is still starting up ends it quietly with exit code 130, not a traceback.
"""

import sys


def main() -> int:
    """Import and run the command; Ctrl-C at any point exits 130 without a traceback."""
    try:
        from .cli import main as run

        return run()
    except KeyboardInterrupt:
        sys.stderr.write("\nhttsleep: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
