"""``python -m hlsmap`` runs the CLI."""

from hlsmap.cli import main

main()
