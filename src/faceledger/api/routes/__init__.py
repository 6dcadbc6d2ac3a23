"""Routes, one module per resource."""

from faceledger.api.routes import (
    audit,
    collections,
    consents,
    evaluations,
    faces,
    footage,
    health,
    leads,
    lifecycle,
    recognition,
    users,
    video,
)

ROUTERS = [
    health.router,
    collections.router,
    faces.router,
    users.router,
    recognition.router,
    leads.router,
    audit.router,
    consents.router,
    lifecycle.router,
    evaluations.router,
    video.router,
    footage.router,
]
