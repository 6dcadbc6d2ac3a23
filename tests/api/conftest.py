from __future__ import annotations

import pytest
from api_helpers import make_world
from rekognition_world import rekognition_world  # noqa: F401 - one server per session


@pytest.fixture
def world(tmp_path, engine):
    w = make_world(tmp_path, engine)
    with w.client:
        yield w
    w.app.state.close()
    w.db.close()
