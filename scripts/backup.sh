#!/usr/bin/env bash
# Back up MotCua: the database and the uploaded files, into one new directory.
#
#   scripts/backup.sh [DEST]        (DEST defaults to ./backups)
#
# Reads the platform's own settings, as the web and worker processes do: DATABASE_URL (PostgreSQL, or an
# absolute SQLite path; default var/motcua.db) and UPLOAD_DIR (default var/uploads). Writes
# DEST/motcua-<UTC time>/ holding:
#   database.dump      PostgreSQL: pg_dump, custom format (compressed; pg_restore reads it)
#   database.sqlite3   SQLite: a consistent copy taken with SQLite's online backup API
#   uploads.tar.gz     the UPLOAD_DIR tree (uploaded files and e-receipts, stored by SHA-256)
#   MANIFEST           what was backed up, when, the schema revision, the number of files
#   SHA256SUMS         checked by scripts/restore.sh before it restores anything
# and prints that directory's path. It runs while the platform serves: the database is dumped first, then the
# files are archived. A file is always written before the row that refers to it commits, so every file the dump
# refers to is in the archive (the archive may hold a few more, of uploads made meanwhile).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/backups}"
DATABASE_URL="${DATABASE_URL:-sqlite:///$ROOT/var/motcua.db}"
UPLOAD_DIR="${UPLOAD_DIR:-$ROOT/var/uploads}"
PY="${PYTHON:-python3}"

fail() { echo "backup.sh: $*" >&2; exit 2; }

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$DEST/motcua-$STAMP"
[ -e "$OUT" ] && fail "$OUT đã tồn tại (đã có bản sao lưu cùng thời điểm)."
mkdir -p "$DEST"
WORK="$(mktemp -d "$DEST/.motcua-$STAMP.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

case "$DATABASE_URL" in
  postgresql*|postgres:*)
    # SQLAlchemy's driver suffix (postgresql+psycopg://) is not libpq's.
    PG_URL="$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?\+[a-z0-9]+://#postgresql://#')"
    pg_dump --format=custom --no-owner --no-privileges --file="$WORK/database.dump" "$PG_URL" \
      || fail "pg_dump thất bại."
    KIND=postgresql
    REVISION="$(psql "$PG_URL" -tAc 'SELECT version_num FROM alembic_version' 2>/dev/null || true)"
    ;;
  sqlite:///*)
    DB_PATH="${DATABASE_URL#sqlite:///}"
    case "$DB_PATH" in /*) ;; *) fail "DATABASE_URL phải chỉ tới tệp SQLite bằng đường dẫn tuyệt đối (sqlite:////...)." ;; esac
    [ -f "$DB_PATH" ] || fail "không có tệp cơ sở dữ liệu $DB_PATH."
    REVISION="$("$PY" - "$DB_PATH" "$WORK/database.sqlite3" <<'EOF'
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)  # a consistent copy even while the platform writes
row = target.execute("SELECT version_num FROM alembic_version").fetchone()
check = target.execute("PRAGMA integrity_check").fetchone()[0]
if check != "ok":
    sys.exit(f"integrity_check: {check}")
print(row[0] if row else "")
EOF
)" || fail "sao lưu SQLite thất bại."
    KIND=sqlite
    ;;
  *) fail "DATABASE_URL không được hỗ trợ: chỉ PostgreSQL hoặc SQLite." ;;
esac

if [ -d "$UPLOAD_DIR" ]; then
  tar -C "$UPLOAD_DIR" -czf "$WORK/uploads.tar.gz" .
  FILES="$(find "$UPLOAD_DIR" -type f | wc -l)"
else
  tar -czf "$WORK/uploads.tar.gz" --files-from /dev/null
  FILES=0
fi

{
  echo "kind=$KIND"
  echo "created_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "schema_revision=$REVISION"
  echo "upload_files=$FILES"
} > "$WORK/MANIFEST"
(cd "$WORK" && sha256sum database.* uploads.tar.gz MANIFEST > SHA256SUMS)
mv "$WORK" "$OUT"
trap - EXIT
echo "$OUT"
