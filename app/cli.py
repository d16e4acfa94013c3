"""Flask CLI commands."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    return None
