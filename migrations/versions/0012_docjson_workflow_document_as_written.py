"""workflow documents kept as written: json, not jsonb, on PostgreSQL

A workflow document is only ever read and written whole by the platform; nothing queries inside it. As jsonb
the database parsed it into a tree on every save and printed it back on every load, and reordered its keys, so a
run this process kept and a reload of its row could see their data in different orders. As json it is stored as
the text written. The change rewrites the table under an ACCESS EXCLUSIVE lock: measured on the 2-core machine of
docs/capacity.md, 5 s for 20,000 documents of 5 KB, so minutes per million: at a province's volume run it in a
maintenance window.

Revision ID: 0012_docjson
Revises: 0011_speed2
Create Date: 2026-11-30 17:20:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012_docjson'
down_revision = '0011_speed2'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps JSON as text already
        op.execute("ALTER TABLE workflow_instance ALTER COLUMN document TYPE json USING document::json")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE workflow_instance ALTER COLUMN document TYPE jsonb USING document::jsonb")
