"""Demo national services: a seeded, fault-injectable imitation of the population database, the
business registry, the tax office, the social-insurance office, the payment platform, an SMS gateway,
the national public-service portal and an SMTP sink, so connectors and demos run end to end without a
ministry on the line.

A package of its own: it never imports ``app`` or ``connectors`` (whose code it exists to check),
and they never import it (import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

from sandbox.app import create_sandbox_app
from sandbox.common import DEFAULT_TOKEN
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
