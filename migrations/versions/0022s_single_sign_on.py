"""single sign-on: a user's business (an account of the national identity provider acting for an enterprise), the
level of assurance and ID token of each web session (kept for procedures that ask a minimum level and for the
provider's logout), users found by personal ID; API clients of other systems (client credentials with scopes,
issued and revoked by an administrator) and their tokens

Revision ID: 0022s_single_sign_on
Revises: 0022t_tenants
Create Date: 2026-12-01 02:15:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

# revision identifiers, used by Alembic.
revision = '0022s_single_sign_on'
down_revision = '0022t_tenants'
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
    op.create_table(
        'api_client',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('secret_sha256', sa.String(length=64), nullable=False),
        sa.Column('scopes', JSON_DOC, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id'),
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_client_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scopes', JSON_DOC, nullable=True))
        batch_op.create_foreign_key('fk_api_token_api_client', 'api_client', ['api_client_id'], ['id'],
                                    ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_constraint('fk_api_token_api_client', type_='foreignkey')
        batch_op.drop_column('scopes')
        batch_op.drop_column('api_client_id')
    op.drop_table('api_client')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('id_token')
        batch_op.drop_column('loa')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index('ix_app_user_personal_id')
        batch_op.drop_column('business_name')
        batch_op.drop_column('business_code')
