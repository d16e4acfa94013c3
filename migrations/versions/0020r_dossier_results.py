"""dossier.results: the results the applicant is told of when the dossier's result is ready (status 9), as the
procedure declares them (procedure.json `results`): one entry per result and agency, with its labelled values

Revision ID: 0020r_dossier_results
Revises: 0019d_procedure_draft
Create Date: 2026-12-01 01:35:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0020r_dossier_results'
down_revision = '0019d_procedure_draft'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'results', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('results')
