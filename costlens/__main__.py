"""``python -m costlens`` runs the CLI."""

from costlens.cli import main

main()
