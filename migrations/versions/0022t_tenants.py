"""tenants: agencies form a hierarchy loaded from the administrative units (parent, unit code, kind, whether the
identifier is provisional); departments within an agency and an officer's department; a procedure published for
more agencies than its own; the administration area's change records (who, what, before/after)

Revision ID: 0022t_tenants
Revises: 0022i_dossier_indicators
Create Date: 2026-12-01 02:20:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0022t_tenants'
down_revision = '0022i_dossier_indicators'
branch_labels = None
depends_on = None


def upgrade():
    # Not in batch mode: on SQLite that copies the table, and calendar_day's triggers (0011_speed2) name it.
    op.add_column('agency', sa.Column('parent_id', sa.Integer(), nullable=True))
    op.add_column('agency', sa.Column('unit_code', sa.String(length=10), nullable=True))
    op.add_column('agency', sa.Column('kind', sa.String(length=20), nullable=False, server_default=''))
    op.add_column('agency', sa.Column('code_provisional', sa.Boolean(), nullable=False, server_default=sa.false()))
    if op.get_bind().dialect.name != 'sqlite':  # SQLite cannot add a constraint to a table in place
        op.create_foreign_key('fk_agency_parent', 'agency', 'agency', ['parent_id'], ['id'])
    op.create_index('ix_agency_parent_id', 'agency', ['parent_id'], unique=False)
    op.create_index('ix_agency_unit_code', 'agency', ['unit_code'], unique=False)
    op.create_table(
        'department',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('agency_id', 'name'),
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_app_user_department', 'department', ['department_id'], ['id'])
        batch_op.create_index('ix_app_user_department_id', ['department_id'], unique=False)
    op.create_table(
        'procedure_publication',
        sa.Column('procedure_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['procedure_id'], ['procedure.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.PrimaryKeyConstraint('procedure_id', 'agency_id'),
    )
    op.create_table(
        'admin_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_name', sa.String(length=255), nullable=False),
        sa.Column('entity', sa.String(length=40), nullable=False),
        sa.Column('entity_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
        sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
        sa.ForeignKeyConstraint(['actor_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('admin_change', schema=None) as batch_op:
        batch_op.create_index('ix_admin_change_entity', ['entity', 'entity_id'], unique=False)


def downgrade():
    with op.batch_alter_table('admin_change', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_change_entity')
    op.drop_table('admin_change')
    op.drop_table('procedure_publication')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index('ix_app_user_department_id')
        batch_op.drop_constraint('fk_app_user_department', type_='foreignkey')
        batch_op.drop_column('department_id')
    op.drop_table('department')
    op.drop_index('ix_agency_unit_code', table_name='agency')
    op.drop_index('ix_agency_parent_id', table_name='agency')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_agency_parent', 'agency', type_='foreignkey')
    for column in ('code_provisional', 'kind', 'unit_code', 'parent_id'):
        op.drop_column('agency', column)
