"""``python -m faceledger`` is the ``faceledger`` command."""

from faceledger.cli import main

main()
