"""Alembic is the only way the schema changes: the migrated database matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_migrations_match_models(app, db_session):
    with app.app_context():
        context = MigrationContext.configure(db_session.connection())
        diff = compare_metadata(context, db.metadata)
    assert diff == []
