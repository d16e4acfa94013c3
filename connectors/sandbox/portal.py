"""Sandbox: the portal service (to be filled in)."""

from __future__ import annotations

from flask import Flask


def install(app: Flask) -> None:
    """Add this service's routes (and its test hooks under /_) to the sandbox app."""
