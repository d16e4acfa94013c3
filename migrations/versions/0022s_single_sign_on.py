"""single sign-on: a user's business (an account of the national identity provider acting for an enterprise), the
level of assurance and ID token of each web session (kept for procedures that ask a minimum level and for the
provider's logout), users found by personal ID

Revision ID: 0022s_single_sign_on
Revises: 0021k_message_key
Create Date: 2026-12-01 02:15:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022s_single_sign_on'
down_revision = '0021k_message_key'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_code', sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column('business_name', sa.String(length=500), nullable=True))
        batch_op.create_index('ix_app_user_personal_id', ['personal_id'], unique=False)
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('loa', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('id_token', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('id_token')
        batch_op.drop_column('loa')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index('ix_app_user_personal_id')
        batch_op.drop_column('business_name')
        batch_op.drop_column('business_code')
