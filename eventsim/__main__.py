"""``python -m eventsim``: the same command line as the ``eventsim`` script."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still loading the command line
    sys.stderr.write("error: interrupted\n")
    sys.exit(130)

main()
