"""AWS-style credentials (access key id + secret access key) for the Rekognition-compatible API.

A SigV4 signature is an HMAC keyed by the secret, so the server must be able to recover the
secret to verify it: unlike an API key (of which only a hash is kept), the secret is stored
**encrypted** with AES-256-GCM under a *master key that is not in the database*: the
environment variable ``FACELEDGER_SECRET_KEY`` (32 bytes, URL-safe base64 or 64 hex digits), or
else the file ``<data dir>/secret.key`` (mode 600, created with the first credential; a file
readable by group or others is refused). A copy of ``governance.sqlite3`` alone, a backup or a
leaked dump, does not reveal any secret. The access key id is the AEAD's associated data, so a
sealed secret cannot be moved to another row; each row records the master key's fingerprint, so
a wrong key is reported as such rather than as a bad signature.

A credential may be **bound** to what a Rekognition client cannot send: a purpose, a case
reference, an authorization (reference and date), a consent reference for the faces it enrols,
and an expiry (a warrant-scoped credential). Replay protection remembers every accepted
signature for the clock-skew window, in the governance database, so that several server
processes share it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceledger.errors import FaceledgerError
from faceledger.governance.clock import Clock, iso, parse_iso, utc_now
from faceledger.governance.context import RequestContext
from faceledger.governance.db import GovernanceDB
from faceledger.governance.errors import ConflictError, InvalidArgumentError, NotFoundError
from faceledger.governance.principals import Principals
from faceledger.governance.vocabulary import check_purpose
from faceledger.validation import MAX_REFERENCE, clean_text

SECRET_KEY_ENV = "FACELEDGER_SECRET_KEY"
SECRET_KEY_FILE = "secret.key"
ACCESS_KEY_PREFIX = "FLAK"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class SecretKeyError(FaceledgerError):
    """The master key is missing, malformed, too widely readable, or not the one that sealed."""

    code = "secret_key_error"


# ------------------------------------------------------------------------------ the master key


class SecretBox:
    """AES-256-GCM under a master key kept outside the database."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("the secret key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self.fingerprint = hashlib.sha256(b"faceledger-secret-key:" + key).hexdigest()[:16]

    @classmethod
    def load(cls, data_dir: Path, *, create: bool = False) -> SecretBox:
        """The key of ``$FACELEDGER_SECRET_KEY``, else of ``<data_dir>/secret.key`` (made with
        mode 600 when ``create`` and absent)."""
        env = os.environ.get(SECRET_KEY_ENV, "").strip()
        if env:
            return cls(_decode_key(env, SECRET_KEY_ENV))
        path = Path(data_dir) / SECRET_KEY_FILE
        if not path.exists():
            if not create:
                raise SecretKeyError(
                    f"no secret key: set ${SECRET_KEY_ENV} or keep {path} (made by "
                    "'faceledger admin create-key --sigv4')"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretKeyError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it"
            )
        return cls(_decode_key(path.read_text().strip(), str(path)))

    def seal(self, plaintext: str, aad: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), aad.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, aad: str) -> str:
        raw = base64.b64decode(token)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag:
            raise SecretKeyError("a sealed secret does not open with this key") from None


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.urlsafe_b64decode(text)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise SecretKeyError(f"{where}: expected 32 bytes as URL-safe base64 or 64 hex digits")
    return key


# ------------------------------------------------------------------------------ bindings


@dataclass(frozen=True, slots=True)
class Binding:
    """What a credential declares on every request it signs (None: not bound)."""

    purpose: str | None = None
    case_ref: str | None = None
    authorization_ref: str | None = None
    authorization_date: date | None = None
    consent: str | None = None
    expires_at: datetime | None = None

    FIELDS = ("purpose", "case_ref", "authorization_ref", "authorization_date", "consent")

    def __post_init__(self) -> None:
        if self.purpose is not None:
            check_purpose(self.purpose)
        for name in ("case_ref", "authorization_ref", "consent"):
            clean_text(getattr(self, name), name, MAX_REFERENCE, error=InvalidArgumentError)

    def to_dict(self) -> dict[str, str | None]:
        out = {name: getattr(self, name) for name in self.FIELDS}
        out["authorization_date"] = (
            self.authorization_date.isoformat() if self.authorization_date else None
        )
        out["expires_at"] = iso(self.expires_at) if self.expires_at else None
        return out

    @classmethod
    def from_dict(cls, d: dict[str, str | None]) -> Binding:
        auth_date = d.get("authorization_date")
        expires = d.get("expires_at")
        return cls(
            purpose=d.get("purpose"),
            case_ref=d.get("case_ref"),
            authorization_ref=d.get("authorization_ref"),
            authorization_date=date.fromisoformat(auth_date) if auth_date else None,
            consent=d.get("consent"),
            expires_at=parse_iso(expires) if expires else None,
        )


def parse_expiry(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (valid through that day, UTC) or an ISO date-time with a zone."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(f"expiry {text!r}: give YYYY-MM-DD or an ISO time") from None
    if moment.tzinfo is None:
        raise InvalidArgumentError(f"expiry {text!r}: give a time zone (e.g. Z)")
    return moment.astimezone(UTC)


# ------------------------------------------------------------------------------ credentials


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A new credential: ``secret_access_key`` is shown this once."""

    access_key_id: str
    secret_access_key: str
    account_id: str
    binding: Binding
    created_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "account_id": self.account_id,
            "binding": self.binding.to_dict(),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A stored credential as listed: who holds it, what it binds, never its secret."""

    access_key_id: str
    account_id: str
    binding: Binding
    label: str | None
    created_at: str
    revoked_at: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "access_key_id": self.access_key_id,
            "account_id": self.account_id,
            "credential": "sigv4",
            "label": self.label,
            "binding": self.binding.to_dict(),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class Credential:
    """A stored credential with its account (secret decrypted only for verification)."""

    access_key_id: str
    account_id: str
    tenant_id: str
    actor_class: str
    roles: frozenset[str]
    binding: Binding
    label: str | None
    created_at: str
    revoked_at: str | None
    secret: str = field(repr=False)

    def context(self, request_id: str) -> RequestContext:
        """The account's request context with what the credential binds."""
        b = self.binding
        return RequestContext(
            principal_id=self.account_id, tenant_id=self.tenant_id,
            actor_class=self.actor_class, roles=self.roles, purpose=b.purpose,
            case_ref=b.case_ref, authorization_ref=b.authorization_ref,
            authorization_date=b.authorization_date, request_id=request_id,
        )  # fmt: skip

    def expired(self, now: datetime) -> bool:
        return self.binding.expires_at is not None and now >= self.binding.expires_at


class SigV4Keys:
    """Issue, find, revoke SigV4 credentials; remember signatures seen (replay protection)."""

    def __init__(self, db: GovernanceDB, data_dir: Path, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.clock = clock
        self._box: SecretBox | None = None

    def box(self, *, create: bool = False) -> SecretBox:
        if self._box is None:
            self._box = SecretBox.load(self.data_dir, create=create)
        return self._box

    def create(
        self, account_ref: str, *, binding: Binding | None = None, label: str | None = None
    ) -> IssuedCredential:
        account = Principals(self.db, clock=self.clock).get_account(account_ref)
        binding = binding or Binding()
        box = self.box(create=True)
        access_key_id = ACCESS_KEY_PREFIX + "".join(secrets.choice(_B32) for _ in range(16))
        secret = base64.b64encode(secrets.token_bytes(30)).decode()  # 40 characters, as AWS
        created = iso(self.clock())
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sigv4_keys (access_key_id, account_id, secret_sealed, key_fingerprint,"
                " binding, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    access_key_id, account.id, box.seal(secret, access_key_id), box.fingerprint,
                    json.dumps(binding.to_dict(), sort_keys=True), label, created,
                ),
            )  # fmt: skip
        return IssuedCredential(access_key_id, secret, account.id, binding, created)

    def find(self, access_key_id: str) -> Credential | None:
        """The credential (revoked or expired ones too: the caller says why it refuses), or
        None when unknown. SecretKeyError when the master key cannot open it."""
        row = (
            self.db.connection()
            .execute(
                "SELECT k.*, a.roles, o.id AS org_id, o.actor_class FROM sigv4_keys k "
                "JOIN accounts a ON a.id = k.account_id JOIN orgs o ON o.id = a.org_id "
                "WHERE k.access_key_id = ?",
                (access_key_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        box = self.box()
        if row["key_fingerprint"] != box.fingerprint:
            raise SecretKeyError(
                f"credential {access_key_id} was sealed under secret key "
                f"{row['key_fingerprint']}, not the one configured ({box.fingerprint})"
            )
        return Credential(
            access_key_id=access_key_id, account_id=row["account_id"], tenant_id=row["org_id"],
            actor_class=row["actor_class"], roles=frozenset(json.loads(row["roles"])),
            binding=Binding.from_dict(json.loads(row["binding"])), label=row["label"],
            created_at=row["created_at"], revoked_at=row["revoked_at"],
            secret=box.open(row["secret_sealed"], access_key_id),
        )  # fmt: skip

    def list(self, account_ref: str | None = None) -> list[CredentialInfo]:
        """Every credential (revoked ones too), oldest first; no secret is opened."""
        sql = (
            "SELECT access_key_id, account_id, binding, label, created_at, revoked_at"
            " FROM sigv4_keys"
        )
        args: tuple[str, ...] = ()
        if account_ref is not None:
            sql += " WHERE account_id = ?"
            args = (Principals(self.db, clock=self.clock).get_account(account_ref).id,)
        rows = self.db.connection().execute(sql + " ORDER BY created_at", args).fetchall()
        return [
            CredentialInfo(
                r["access_key_id"],
                r["account_id"],
                Binding.from_dict(json.loads(r["binding"])),
                r["label"],
                r["created_at"],
                r["revoked_at"],
            )  # fmt: skip
            for r in rows
        ]

    def revoke(self, access_key_id: str) -> str:
        """Revoke; returns the account id."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT account_id, revoked_at FROM sigv4_keys WHERE access_key_id = ?",
                (access_key_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no SigV4 credential {access_key_id!r}")
            if row["revoked_at"] is not None:
                raise ConflictError(f"{access_key_id} was revoked at {row['revoked_at']}")
            conn.execute(
                "UPDATE sigv4_keys SET revoked_at = ? WHERE access_key_id = ?",
                (iso(self.clock()), access_key_id),
            )
        return row["account_id"]

    def remember(self, signature: str, *, window: timedelta) -> bool:
        """Record a verified signature; False if it was seen within ``window`` (a replay).
        Entries older than twice the window are dropped as new ones come."""
        now = self.clock().timestamp()
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM sigv4_seen WHERE seen_at < ?", (now - 2 * window.total_seconds(),)
            )
            inserted = conn.execute(
                "INSERT INTO sigv4_seen (signature, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (signature, now),
            ).rowcount
        return inserted == 1


def is_access_key_id(text: str) -> bool:
    return len(text) == 20 and text.startswith(ACCESS_KEY_PREFIX)


__all__ = [
    "ACCESS_KEY_PREFIX",
    "SECRET_KEY_ENV",
    "SECRET_KEY_FILE",
    "Binding",
    "Credential",
    "CredentialInfo",
    "IssuedCredential",
    "SecretBox",
    "SecretKeyError",
    "SigV4Keys",
    "is_access_key_id",
    "parse_expiry",
]
