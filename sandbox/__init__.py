"""Sandbox national services: a seeded, fault-injectable imitation of the population database and
the business registry, so connectors and demos run end to end without a ministry on the line."""

from __future__ import annotations

from sandbox.app import DEFAULT_TOKEN, create_sandbox_app
from sandbox.seed import DEMO_CITIZEN_ID, DEMO_SPOUSE_ID, DEMO_TAX_CODE, SandboxData, generate

__all__ = [
    "DEFAULT_TOKEN",
    "DEMO_CITIZEN_ID",
    "DEMO_SPOUSE_ID",
    "DEMO_TAX_CODE",
    "SandboxData",
    "create_sandbox_app",
    "generate",
]
