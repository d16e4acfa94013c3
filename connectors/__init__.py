"""Connectors to the national systems (population, business registry, tax, payment, notify, portal)."""
