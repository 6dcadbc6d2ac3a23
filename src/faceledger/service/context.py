"""Who is asking, and why (defined in governance; the service only carries it)."""

from faceledger.governance.context import RequestContext

__all__ = ["RequestContext"]
