"""message_key: a dossier's value of each correlation key its procedure declares for a message from outside
(procedure.json `messages`), so POST /api/v1/messages finds the dossier by that value

Revision ID: 0021k_message_key
Revises: 0020r_dossier_results
Create Date: 2026-12-01 01:45:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021k_message_key'
down_revision = '0020r_dossier_results'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'message_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('value', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dossier_id', 'name'),
    )
    with op.batch_alter_table('message_key', schema=None) as batch_op:
        batch_op.create_index('ix_message_key_name_value', ['name', 'value'], unique=False)


def downgrade():
    with op.batch_alter_table('message_key', schema=None) as batch_op:
        batch_op.drop_index('ix_message_key_name_value')
    op.drop_table('message_key')
