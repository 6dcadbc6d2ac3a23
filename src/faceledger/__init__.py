"""faceledger."""
