"""``python -m eventsim``: the same command line as the ``eventsim`` script."""

from .cli import main

main()
