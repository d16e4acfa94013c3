"""the leaders' dashboard: digitization at reception (components held, of them digitized), the indicators' daily
aggregate (indicator_day) and the flags of the rows it holds (dossier, payment, dossier_rating: counted, with
partial indexes on what it does not hold yet), an index for the late dossiers finished in a period

Revision ID: 0023d_indicator_day
Revises: 0023p_personal_documents
Create Date: 2026-12-01 03:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023d_indicator_day'
down_revision = '0023p_personal_documents'
branch_labels = None
depends_on = None

COLUMNS = ("received_online", "received_in_person", "digitized", "received_reused", "opened", "closed", "due_passed",
           "due_passed_closed", "finished_before", "finished_on_time", "finished_late", "refused", "withdrawn",
           "paid_online", "rated", "rated_satisfied")


def upgrade():
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('components_held', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('components_digitized', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('counted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_dossier_uncounted', ['agency_id'], unique=False,
                              postgresql_where=sa.text('NOT counted'), sqlite_where=sa.text('NOT counted'))
        batch_op.create_index('ix_dossier_finished_late', ['agency_id', 'finished_at'], unique=False,
                              postgresql_where=sa.text("finished_verdict = 'qua_han'"),
                              sqlite_where=sa.text("finished_verdict = 'qua_han'"))
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_payment_uncounted', ['dossier_id'], unique=False,
                              postgresql_where=sa.text('NOT counted'), sqlite_where=sa.text('NOT counted'))
    with op.batch_alter_table('dossier_rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_dossier_rating_uncounted', ['dossier_id'], unique=False,
                              postgresql_where=sa.text('NOT counted'), sqlite_where=sa.text('NOT counted'))
    op.create_table(
        'indicator_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('procedure_id', sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), server_default='0', nullable=False) for name in COLUMNS],
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id']),
        sa.ForeignKeyConstraint(['procedure_id'], ['procedure.id']),
        sa.PrimaryKeyConstraint('day', 'agency_id', 'procedure_id'),
    )


def downgrade():
    op.drop_table('indicator_day')
    with op.batch_alter_table('dossier_rating', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_rating_uncounted')
        batch_op.drop_column('counted')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_uncounted')
        batch_op.drop_column('counted')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_finished_late')
        batch_op.drop_index('ix_dossier_uncounted')
        batch_op.drop_column('counted')
        batch_op.drop_column('components_digitized')
        batch_op.drop_column('components_held')
