"""agency calendar version: a number on each agency that every change of its calendar rows (its own, or the
nation-wide ones) changes, kept by triggers, so a process may keep calendars and know when they are stale
(on PostgreSQL drawn from a sequence: a rolled-back change never hands the same number out twice)

Revision ID: 0011_speed2
Revises: 0010_lists2
Create Date: 2026-11-30 15:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_speed2'
down_revision = '0010_lists2'
branch_labels = None
depends_on = None

_BUMP = "UPDATE agency SET calendar_version = {value} WHERE {row}.agency_id IS NULL OR id = {row}.agency_id"
_NEXT = "nextval('calendar_version_seq')"
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION calendar_day_bump() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN {_BUMP.format(row='OLD', value=_NEXT)}; END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN {_BUMP.format(row='NEW', value=_NEXT)}; END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade():
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_version', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE calendar_version_seq")
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER calendar_day_bump AFTER INSERT OR UPDATE OR DELETE ON calendar_day "
                   "FOR EACH ROW EXECUTE FUNCTION calendar_day_bump()")
    else:
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            body = "; ".join(_BUMP.format(row=row, value="calendar_version + 1") for row in rows)
            op.execute(f"CREATE TRIGGER calendar_day_bump_{event.lower()} AFTER {event} ON calendar_day "
                       f"FOR EACH ROW BEGIN {body}; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS calendar_day_bump ON calendar_day")
        op.execute("DROP FUNCTION IF EXISTS calendar_day_bump()")
        op.execute("DROP SEQUENCE IF EXISTS calendar_version_seq")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS calendar_day_bump_{event}")
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.drop_column('calendar_version')
