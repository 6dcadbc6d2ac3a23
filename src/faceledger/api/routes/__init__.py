"""Routes, one module per resource."""

from faceledger.api.routes import audit, collections, faces, health, leads, recognition, users

ROUTERS = [
    health.router,
    collections.router,
    faces.router,
    users.router,
    recognition.router,
    leads.router,
    audit.router,
]
