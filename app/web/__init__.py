"""HTTP layer: blueprints only. Business rules live in app.dossiers / app.procedures."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    return None
