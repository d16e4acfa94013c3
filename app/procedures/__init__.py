"""Procedure packages: load, cross-validate, deploy, version."""
