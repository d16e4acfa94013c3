"""The demo national services on a free port for the sandbox's own tests (token "test-token")."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from sandbox import create_sandbox_app

TOKEN = "test-token"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_sandbox_app(2026, {"SANDBOX_TOKEN": TOKEN})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
