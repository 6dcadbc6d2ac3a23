"""Client request tokens (Rekognition's ``ClientRequestToken``) as the store keeps them: a change
made with a token is remembered, with a fingerprint of its parameters and its result, in the same
transaction as the change. A retry with the same token then gets the same result without acting
twice; the same token with other parameters is refused (``IdempotencyMismatchError``).

A token is the tenant's (two accounts of one organization share them, as an AWS account's
principals do) and is remembered for :data:`KEEP_SECONDS`; the collection's deletion forgets
its tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from faceledger.errors import FaceledgerError

KEEP_SECONDS = 24 * 3600
"""How long a token is remembered (a retry comes within minutes; botocore makes a new token for
every call it does not retry)."""


class IdempotencyMismatchError(FaceledgerError):
    """A token already used for a request with other parameters."""

    code = "idempotency_mismatch"


@dataclass(frozen=True, slots=True)
class RememberedRequest:
    operation: str
    fingerprint: str
    """SHA-256 of the request's canonical parameters (the token left out)."""
    result: str
    """The result as JSON (ids and reasons; never biometric data)."""
    created_at: str


class IdempotencyStore(ABC):
    """What a store needs to honour client request tokens (joins the caller's transaction)."""

    @abstractmethod
    def remembered_request(self, tenant_id: str, token: str) -> RememberedRequest | None:
        """The request made with ``token`` within :data:`KEEP_SECONDS`, if any."""

    @abstractmethod
    def remember_request(
        self, tenant_id: str, token: str, collection_id: str, request: RememberedRequest
    ) -> None:
        """Remember a request and its result (in the current transaction); forget expired
        tokens."""
