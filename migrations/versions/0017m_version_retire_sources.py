"""procedure_version: retired_at / retired_by (a retired version starts no new dossier; its running dossiers go on)
and source_files (the package's files exactly as uploaded, so that a download re-deploys to the same content hash)

Revision ID: 0017m_version_retire_sources
Revises: 0016w_deadline_watch
Create Date: 2026-11-30 23:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0017m_version_retire_sources'
down_revision = '0016w_deadline_watch'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('procedure_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retired_by', sa.String(length=80), nullable=False, server_default=''))
        # json, not jsonb: the text of each file is kept exactly (it is what the content hash was taken of)
        batch_op.add_column(sa.Column('source_files', sa.JSON().with_variant(postgresql.JSON(), 'postgresql'),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('procedure_version', schema=None) as batch_op:
        batch_op.drop_column('source_files')
        batch_op.drop_column('retired_by')
        batch_op.drop_column('retired_at')
