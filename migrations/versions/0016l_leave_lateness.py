"""officers' leave (officer_leave, with the partial index the sweeper reads), who held each finished step and how
late (step_holding, the statistics' table), and the completed steps whose holdings are still owed (lateness_owed,
filled by a trigger on human_task inside the completion's own statement; the steps completed before this
migration are owed too)

Revision ID: 0016l_leave_lateness
Revises: 0015t_timer_due
Create Date: 2026-11-30 22:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016l_leave_lateness'
down_revision = '0015t_timer_due'
branch_labels = None
depends_on = None

_PENDING = "applied_at IS NULL"

_PG_FUNCTION = """
CREATE FUNCTION human_task_lateness_owed() RETURNS trigger AS $$
BEGIN
  INSERT INTO lateness_owed (task_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade():
    op.create_table(
        'officer_leave',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('officer_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('substitute_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['officer_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['substitute_id'], ['app_user.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_officer_leave_agency_id', 'officer_leave', ['agency_id'])
    op.create_index('ix_officer_leave_officer_period', 'officer_leave', ['officer_id', 'starts_at', 'ends_at'])
    op.create_index('ix_officer_leave_pending', 'officer_leave', ['starts_at'],
                    postgresql_where=sa.text(_PENDING), sqlite_where=sa.text(_PENDING))
    op.create_table(
        'step_holding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('procedure_id', sa.Integer(), nullable=False),
        sa.Column('spec_name', sa.String(length=255), nullable=False),
        sa.Column('step_title', sa.String(length=500), nullable=False),
        sa.Column('lane', sa.String(length=255), nullable=False),
        sa.Column('officer_id', sa.Integer(), nullable=True),
        sa.Column('officer_name', sa.String(length=255), nullable=False),
        sa.Column('held_from', sa.DateTime(timezone=True), nullable=False),
        sa.Column('held_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('late_seconds', sa.Integer(), nullable=False),
        sa.Column('step_late', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id']),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id']),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['procedure_id'], ['procedure.id']),
        sa.ForeignKeyConstraint(['officer_id'], ['app_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_step_holding_task_id', 'step_holding', ['task_id'])
    op.create_index('ix_step_holding_done', 'step_holding', ['done_at'])
    op.create_index('ix_step_holding_agency_done', 'step_holding', ['agency_id', 'done_at'])
    op.create_table(
        'lateness_owed',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['human_task.id']),
        sa.PrimaryKeyConstraint('task_id'),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER human_task_lateness_owed AFTER UPDATE OF state ON human_task FOR EACH ROW "
                   "WHEN (NEW.state = 'completed' AND OLD.state IS DISTINCT FROM 'completed') "
                   "EXECUTE FUNCTION human_task_lateness_owed()")
    else:
        op.execute("CREATE TRIGGER human_task_lateness_owed AFTER UPDATE OF state ON human_task FOR EACH ROW "
                   "WHEN NEW.state = 'completed' AND OLD.state IS NOT 'completed' "
                   "BEGIN INSERT OR IGNORE INTO lateness_owed (task_id) VALUES (NEW.id); END")
    op.execute("INSERT INTO lateness_owed (task_id) SELECT id FROM human_task WHERE state = 'completed'")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS human_task_lateness_owed ON human_task")
        op.execute("DROP FUNCTION IF EXISTS human_task_lateness_owed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS human_task_lateness_owed")
    op.drop_table('lateness_owed')
    op.drop_index('ix_step_holding_agency_done', table_name='step_holding')
    op.drop_index('ix_step_holding_done', table_name='step_holding')
    op.drop_index('ix_step_holding_task_id', table_name='step_holding')
    op.drop_table('step_holding')
    op.drop_index('ix_officer_leave_pending', table_name='officer_leave')
    op.drop_index('ix_officer_leave_officer_period', table_name='officer_leave')
    op.drop_index('ix_officer_leave_agency_id', table_name='officer_leave')
    op.drop_table('officer_leave')
