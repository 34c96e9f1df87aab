"""``python -m faces.cli``: the ``takedown`` command."""

from faces.cli import main

main()
