"""What each side of a footage request reads back: a mixin of
:class:`~faceledger.service.faces.FaceService` (the console's owner and agency pages).

- ``camera.list`` (a camera owner): its own cameras and where they are.
- ``footage.requests`` (an agency): the requests it opened, newest first, each with how many
  clips are shared and waiting to be searched and how many have been searched, and the
  caller's own search jobs of that request's clips. Never who shared, who declined, who
  revoked or who saw a request: only counts of what can be or was searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceledger.governance.clock import iso
from faceledger.governance.context import RequestContext
from faceledger.governance.decision import Decision
from faceledger.service.unit import Governed
from faceledger.store.footage import Camera

if TYPE_CHECKING:
    from faceledger.service.faces import FaceService


class FootageLists:
    """Mixed into FaceService, beside ``service.footage.FootageOperations``."""

    def list_cameras(self: FaceService, ctx: RequestContext) -> Governed[list[Camera]]:
        def work(_: Decision) -> tuple[list[Camera], dict[str, Any]]:
            cameras = self.store.cameras(ctx.tenant_id)
            return cameras, {"count": len(cameras)}

        return self.unit.run(ctx, "camera.list", {}, work)

    def my_footage_requests(self: FaceService, ctx: RequestContext) -> Governed[list[dict]]:
        """The organization's requests with their share counts and the caller's searches."""

        def work(_: Decision) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            now = iso(self._clock_now())
            jobs = self.store.video_jobs(ctx.tenant_id, ctx.principal_id)
            by_share = {j.params.get("share_id"): j for j in jobs if j.params.get("share_id")}
            out = []
            for fr in self.store.footage_requests(ctx.tenant_id):
                shares = self.store.shares(fr.request_id)
                out.append({
                    **fr.to_dict(),
                    "open": fr.expires_at > now,
                    "shared": sum(s.status == "shared" for s in shares),
                    "searched": sum(s.status == "searched" for s in shares),
                    "jobs": [by_share[s.share_id].summary() for s in shares
                             if s.share_id in by_share],
                })  # fmt: skip
            return out, {"count": len(out)}

        return self.unit.run(ctx, "footage.requests", {}, work)
