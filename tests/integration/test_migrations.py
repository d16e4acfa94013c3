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


def test_running_the_migrations_leaves_the_platform_s_loggers_on(sqlite_app, caplog):
    """Migrations run inside a live process (the embedded start, `flask db upgrade`, the tests): alembic's logging
    set-up must not silence the loggers that already exist, or errors stop reaching the operator's log."""
    import logging

    from app.dossiers import portal_sync
    from app.jobs import queue

    assert not portal_sync.log.disabled and not queue.log.disabled and not sqlite_app.logger.disabled
    with caplog.at_level(logging.WARNING):
        queue.log.warning("probe after the migrations")
    assert "probe after the migrations" in caplog.text
