"""``python -m cli``: the ``facemood`` command where its console script is not on PATH."""

from cli import main

main()
