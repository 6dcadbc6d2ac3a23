"""The one door: every front end (CLI, HTTP) calls the service; only the service touches the store.

Each call carries a RequestContext (who, for what purpose, in which case) and passes through a
Gate, which decides (policy) and records (audit log) before and after the store is touched.
"""

from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.gate import Gate

__all__ = ["Decision", "Gate", "RequestContext"]
