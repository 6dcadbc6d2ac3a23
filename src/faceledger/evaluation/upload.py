"""An independent tester's evaluation set, read from an uploaded zip archive in memory.

The archive holds ``manifest.csv`` (columns ``path``, ``subject``, any group columns the tester
declares, and for 1:N a ``role`` column: ``gallery`` or ``probe``) and the images it names,
relative to the manifest; for 1:1, optionally ``pairs.csv`` next to it (the pairs to score,
``evaluation.listed``). Nothing of it is written anywhere: the archive is read from bytes,
each image is decoded from bytes, and everything is dropped when the evaluation returns.

Limits (a clear error names the fix): at most :data:`MAX_IMAGES` images, :data:`MAX_ARCHIVE`
bytes uploaded, :data:`MAX_IMAGE` bytes and :data:`MAX_UNPACKED` bytes unpacked in all,
:data:`MAX_GROUP_COLUMNS` group columns.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
from dataclasses import dataclass

from faceledger.errors import InvalidRequestError
from faceledger.fairness.datasets import AuditSet, parse_manifest

MAX_ARCHIVE = 8 * 1024 * 1024
MAX_UNPACKED = 32 * 1024 * 1024
MAX_IMAGE = 2 * 1024 * 1024
MAX_IMAGES = 200
MAX_GROUP_COLUMNS = 3
MAX_LABEL = 64
MANIFEST = "manifest.csv"
PAIRS = "pairs.csv"
ROLES = ("gallery", "probe")


class EvaluationSetError(InvalidRequestError):
    """The uploaded set cannot be evaluated as given (the message says what to change)."""

    code = "invalid_evaluation_set"


@dataclass
class UploadedSet:
    """The manifest as an audit set (paths, subjects, groups), the image bytes in its order,
    their SHA-256s, and for 1:N each image's role."""

    audit_set: AuditSet
    images: list[bytes]
    digests: list[str]
    manifest_sha256: str
    roles: list[str] | None = None
    pairs_text: str | None = None  # pairs.csv next to the manifest (1:1 on listed pairs)
    pairs_sha256: str | None = None


def _manifest_name(names: list[str]) -> str:
    found = [n for n in names if posixpath.basename(n) == MANIFEST and not n.endswith("/")]
    if not found:
        raise EvaluationSetError(
            f"the archive holds no {MANIFEST}: add one with the columns path, subject and your "
            "group columns (and role for identification)"
        )
    shallowest = min(found, key=lambda n: n.count("/"))
    if sum(n.count("/") == shallowest.count("/") for n in found) > 1:
        raise EvaluationSetError(f"the archive holds several {MANIFEST} at the same depth")
    return shallowest


def _member(base: str, path: str) -> str:
    name = posixpath.normpath(posixpath.join(base, path.replace("\\", "/")))
    if path.startswith("/") or name.startswith("../") or name == "..":
        raise EvaluationSetError(f"manifest path {path!r} leaves the archive: use relative paths")
    return name


def read_archive(data: bytes, *, identification: bool) -> UploadedSet:
    """The set in ``data`` (a zip archive); EvaluationSetError when it breaks a rule or limit."""
    if len(data) > MAX_ARCHIVE:
        raise EvaluationSetError(f"the archive is larger than {MAX_ARCHIVE} bytes: split the set")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = {i.filename: i for i in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise EvaluationSetError("the upload is not a zip archive: send a .zip") from None
    if sum(i.file_size for i in infos.values()) > MAX_UNPACKED:
        raise EvaluationSetError(f"the archive unpacks to more than {MAX_UNPACKED} bytes")
    manifest_name = _manifest_name(list(infos))
    raw = _read(archive, infos[manifest_name], MAX_IMAGE)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvaluationSetError(f"{MANIFEST} is not UTF-8 text") from None
    try:
        audit_set = parse_manifest(text, source=MANIFEST, name="upload")
    except Exception as exc:  # noqa: BLE001 - the parser's message names the problem
        raise EvaluationSetError(str(exc)) from None
    roles = None
    if identification:
        if "role" not in audit_set.groups:
            raise EvaluationSetError(
                "identification needs a role column: gallery (enrolled) or probe (searched)"
            )
        roles = [r.lower() for r in audit_set.groups.pop("role")]
        bad = sorted({r for r in roles if r not in ROLES})
        if bad:
            raise EvaluationSetError(f"role must be gallery or probe, not {', '.join(bad)}")
        if "gallery" not in roles or "probe" not in roles:
            raise EvaluationSetError("identification needs gallery and probe images")
    else:
        audit_set.groups.pop("role", None)
    if len(audit_set) > MAX_IMAGES:
        raise EvaluationSetError(
            f"the manifest names {len(audit_set)} images; at most {MAX_IMAGES} per evaluation"
        )
    if len(audit_set.groups) > MAX_GROUP_COLUMNS:
        raise EvaluationSetError(
            f"at most {MAX_GROUP_COLUMNS} group columns; got {', '.join(audit_set.groups)}"
        )
    for column, values in audit_set.groups.items():
        if any(len(v) > MAX_LABEL for v in values):
            raise EvaluationSetError(f"labels of {column!r} are at most {MAX_LABEL} characters")
    if len(set(audit_set.paths)) != len(audit_set.paths):
        raise EvaluationSetError("the manifest names an image twice")
    base = posixpath.dirname(manifest_name)
    images = []
    for path in audit_set.paths:
        name = _member(base, path)
        if name not in infos:
            raise EvaluationSetError(f"the manifest names {path!r}, which is not in the archive")
        images.append(_read(archive, infos[name], MAX_IMAGE))
    pairs_text = pairs_sha256 = None
    pairs_name = posixpath.join(base, PAIRS) if base else PAIRS
    if pairs_name in infos:
        if identification:
            raise EvaluationSetError(
                f"{PAIRS} lists 1:1 pairs: send it with mode verification, or remove it for 1:N"
            )
        raw_pairs = _read(archive, infos[pairs_name], MAX_IMAGE)
        try:
            pairs_text = raw_pairs.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise EvaluationSetError(f"{PAIRS} is not UTF-8 text") from None
        pairs_sha256 = hashlib.sha256(raw_pairs).hexdigest()
    return UploadedSet(
        pairs_text=pairs_text,
        pairs_sha256=pairs_sha256,
        audit_set=audit_set,
        images=images,
        digests=[hashlib.sha256(b).hexdigest() for b in images],
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        roles=roles,
    )


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise EvaluationSetError(f"{info.filename} is larger than {limit} bytes")
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError):
        raise EvaluationSetError(f"cannot read {info.filename} from the archive") from None
    if len(data) > limit:
        raise EvaluationSetError(f"{info.filename} is larger than {limit} bytes")
    return data
