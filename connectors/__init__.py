"""Connectors to the national systems (population, business registry, tax, social insurance, payment, notify,
portal).

Each provider is a folder with a real HTTP client; `build_registry(settings)` wires the ones configured.
Connectors never know whether they talk to the demo services or the real systems: only the URL differs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from connectors.base import CircuitBreaker, HttpClient, RetryPolicy
from connectors.registry import PLATFORM_OPERATIONS, Registry

MIN_SECRET_LENGTH = 16
log = logging.getLogger(__name__)


def build_registry(settings: Mapping[str, Any]) -> Registry:
    """Operations of every provider configured: `<PROVIDER>_URL` (POPULATION, BUSINESS, TAX, SOCIAL_INSURANCE,
    PAYMENT, SMS, PORTAL) with `<PROVIDER>_TOKEN`, PAYMENT_SECRET for callback signatures, SMTP_HOST for email."""
    from connectors.business import BusinessConnector
    from connectors.notify import EmailSender
    from connectors.payment import PaymentConnector
    from connectors.population import PopulationConnector
    from connectors.portal import PortalConnector
    from connectors.sms import SmsSender
    from connectors.social_insurance import SocialInsuranceConnector
    from connectors.tax import TaxConnector

    registry = Registry()
    retry = RetryPolicy(attempts=int(settings.get("CONNECTOR_ATTEMPTS", 3)))
    timeout = float(settings.get("CONNECTOR_TIMEOUT", 5.0))
    kinds: dict[str, Callable[[HttpClient], Any]] = {
        "POPULATION": PopulationConnector, "BUSINESS": BusinessConnector, "TAX": TaxConnector,
        "SOCIAL_INSURANCE": SocialInsuranceConnector,
        "PAYMENT": lambda client: PaymentConnector(client, str(settings.get("PAYMENT_SECRET", ""))),
        "SMS": SmsSender, "PORTAL": PortalConnector,
    }
    for prefix, kind in kinds.items():
        url = settings.get(f"{prefix}_URL")
        if not url:
            continue
        if prefix == "PAYMENT" and len(str(settings.get("PAYMENT_SECRET") or "")) < MIN_SECRET_LENGTH:
            # Without a real shared secret anyone could sign a "paid" callback: no online payment at all.
            log.error("PAYMENT_URL is set but PAYMENT_SECRET is missing or shorter than %d characters; "
                      "online payment is off", MIN_SECRET_LENGTH)
            continue
        client = HttpClient(prefix.lower(), str(url), token=str(settings.get(f"{prefix}_TOKEN", "")),
                            timeout=timeout, retry=retry, breaker=CircuitBreaker())
        connector = kind(client)
        registry.connectors[prefix.lower()] = connector
        for operation in connector.operations():
            registry.register(operation)
    if settings.get("SMTP_HOST"):
        sender = EmailSender(str(settings["SMTP_HOST"]), int(settings.get("SMTP_PORT", 25)),
                             str(settings.get("MAIL_SENDER", "motcua@localhost")), timeout=timeout)
        for operation in sender.operations():
            registry.register(operation)
    return registry


@functools.cache
def operation_catalog() -> dict[str, Mapping[str, Any]]:
    """Every operation a service task may name, with its parameter schema, whatever is configured here."""
    placeholder = "http://unconfigured.invalid"
    providers = ("POPULATION", "BUSINESS", "TAX", "SOCIAL_INSURANCE", "PAYMENT", "SMS", "PORTAL")
    settings = {f"{p}_URL": placeholder for p in providers}
    registry = build_registry({**settings, "SMTP_HOST": "unconfigured.invalid",
                               "PAYMENT_SECRET": "x" * MIN_SECRET_LENGTH})
    catalog: dict[str, Mapping[str, Any]] = {op: registry.get(op).params_schema for op in registry.ids()}
    catalog.update({op: declared.params_schema for op, declared in PLATFORM_OPERATIONS.items()})
    return catalog
