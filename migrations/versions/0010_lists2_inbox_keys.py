"""inbox keys on open tasks: the dossier's code, submission time and folded applicant name copied onto
human_task (filled for open tasks here, by the app for every new task), with partial indexes for the inbox's
code and received orders, and on PostgreSQL a trigram index (pg_trgm) for its search

Revision ID: 0010_lists2
Revises: 0009_lists
Create Date: 2026-11-30 15:00:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_lists2'
down_revision = '0009_lists'
branch_labels = None
depends_on = None

OPEN_TASK = "state IN ('ready', 'claimed')"
BATCH = 5000


def _where(condition):
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def _folded(text):
    # As app.models.dossier.folded at the time of this migration.
    bare = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(ch for ch in bare if not unicodedata.combining(ch)).lower().split())[:255]


def upgrade():
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dossier_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('dossier_submitted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('applicant_folded', sa.String(length=255), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text(f"""
        UPDATE human_task SET dossier_code = d.code, dossier_submitted_at = d.submitted_at
        FROM dossier d WHERE d.id = human_task.dossier_id AND human_task.{OPEN_TASK}"""))
    # The folded name is computed here, as the app computes it (no database extension needed).
    rows = conn.execute(sa.text(f"""
        SELECT t.id, d.applicant_name FROM human_task t JOIN dossier d ON d.id = t.dossier_id
        WHERE t.{OPEN_TASK}""")).all()
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.text("UPDATE human_task SET applicant_folded = :name WHERE id = :id"),
                     [{"id": i, "name": _folded(n or "")} for i, n in rows[start:start + BATCH]])
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_open_code', ['agency_id', 'role', 'dossier_code', 'id'], unique=False,
                              **_where(OPEN_TASK))
        batch_op.create_index('ix_human_task_open_received', ['agency_id', 'role', 'dossier_submitted_at', 'id'],
                              unique=False, **_where(OPEN_TASK))
    if conn.dialect.name == "postgresql":
        # Substring search on the folded name (and a code's start) by trigrams.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index('ix_human_task_open_search', 'human_task', ['dossier_code', 'applicant_folded'], unique=False,
                        postgresql_using='gin',
                        postgresql_ops={'dossier_code': 'gin_trgm_ops', 'applicant_folded': 'gin_trgm_ops'},
                        postgresql_where=sa.text(OPEN_TASK))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_human_task_open_search', table_name='human_task')
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open_received')
        batch_op.drop_index('ix_human_task_open_code')
        batch_op.drop_column('applicant_folded')
        batch_op.drop_column('dossier_submitted_at')
        batch_op.drop_column('dossier_code')
