#!/usr/bin/env bash
# Restore a MotCua backup made by scripts/backup.sh onto a NEW database and a NEW files directory.
#
#   scripts/restore.sh BACKUP_DIR
#
# Targets are the platform's own settings: DATABASE_URL and UPLOAD_DIR. It never overwrites anything:
#   - PostgreSQL: the database must exist and be empty (createdb motcua_restored; the role restoring it becomes
#     the owner of everything). The dump is restored in one transaction: all or nothing.
#   - SQLite: the file must not exist yet (absolute path, sqlite:////...).
#   - UPLOAD_DIR must be absent or empty.
# Before anything is written the checksums of the backup are verified; afterwards every file the database refers to
# (attachments, e-receipts) is checked against its SHA-256 in the restored files directory. Then run
# `flask db upgrade` (a no-op when the code is the backup's version), start the web and worker processes, and run
# `flask portal resend` so that anything the national portal had not acknowledged is sent again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"

fail() { echo "restore.sh: $*" >&2; exit 2; }

[ $# -eq 1 ] || fail "cách dùng: scripts/restore.sh THU_MUC_SAO_LUU"
BACKUP="$(cd "$1" 2>/dev/null && pwd)" || fail "không có thư mục sao lưu $1."
[ -f "$BACKUP/MANIFEST" ] && [ -f "$BACKUP/SHA256SUMS" ] || fail "$BACKUP không phải bản sao lưu của backup.sh."
[ -n "${DATABASE_URL:-}" ] || fail "đặt DATABASE_URL chỉ tới cơ sở dữ liệu mới cần khôi phục vào."
[ -n "${UPLOAD_DIR:-}" ] || fail "đặt UPLOAD_DIR chỉ tới thư mục tệp mới cần khôi phục vào."
(cd "$BACKUP" && sha256sum --quiet -c SHA256SUMS) || fail "bản sao lưu bị hỏng (sai SHA-256)."
KIND="$(sed -n 's/^kind=//p' "$BACKUP/MANIFEST")"

if [ -d "$UPLOAD_DIR" ] && [ -n "$(ls -A "$UPLOAD_DIR")" ]; then
  fail "thư mục tệp $UPLOAD_DIR không trống: khôi phục vào một thư mục mới."
fi

case "$DATABASE_URL" in
  postgresql*|postgres:*)
    [ "$KIND" = postgresql ] || fail "bản sao lưu là $KIND, DATABASE_URL là PostgreSQL."
    PG_URL="$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?\+[a-z0-9]+://#postgresql://#')"
    TABLES="$(psql "$PG_URL" -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" \
      || fail "không kết nối được cơ sở dữ liệu đích (hãy tạo trước: createdb ...)."
    [ "$TABLES" = 0 ] || fail "cơ sở dữ liệu đích đã có $TABLES bảng: khôi phục vào một cơ sở dữ liệu mới."
    pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$PG_URL" \
      "$BACKUP/database.dump" || fail "pg_restore thất bại; cơ sở dữ liệu đích không bị thay đổi."
    LIST_FILES=(psql "$PG_URL" -tA -c
      "SELECT sha256 FROM attachment UNION SELECT receipt_sha256 FROM payment WHERE receipt_sha256 <> ''")
    ;;
  sqlite:///*)
    [ "$KIND" = sqlite ] || fail "bản sao lưu là $KIND, DATABASE_URL là SQLite."
    DB_PATH="${DATABASE_URL#sqlite:///}"
    case "$DB_PATH" in /*) ;; *) fail "DATABASE_URL phải chỉ tới tệp SQLite bằng đường dẫn tuyệt đối (sqlite:////...)." ;; esac
    [ -e "$DB_PATH" ] && fail "tệp $DB_PATH đã tồn tại: khôi phục vào một tệp mới."
    mkdir -p "$(dirname "$DB_PATH")"
    "$PY" - "$BACKUP/database.sqlite3" "$DB_PATH" <<'EOF' || fail "khôi phục SQLite thất bại."
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
EOF
    LIST_FILES=("$PY" -c "import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (h,) in db.execute(\"SELECT sha256 FROM attachment UNION SELECT receipt_sha256 FROM payment WHERE receipt_sha256 <> ''\"):
    print(h)" "$DB_PATH")
    ;;
  *) fail "DATABASE_URL không được hỗ trợ: chỉ PostgreSQL hoặc SQLite." ;;
esac

mkdir -p "$UPLOAD_DIR"
tar -C "$UPLOAD_DIR" -xzf "$BACKUP/uploads.tar.gz"

# Every file the restored database refers to must be there, with the content its name promises.
MISSING=0
CHECKED=0
while read -r digest; do
  [ -n "$digest" ] || continue
  CHECKED=$((CHECKED + 1))
  file="$UPLOAD_DIR/${digest:0:2}/$digest"
  if [ ! -f "$file" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$digest" ]; then
    echo "thiếu hoặc sai tệp: $file" >&2
    MISSING=$((MISSING + 1))
  fi
done < <("${LIST_FILES[@]}")
[ "$MISSING" = 0 ] || fail "$MISSING tệp mà cơ sở dữ liệu tham chiếu bị thiếu hoặc sai nội dung."
echo "Đã khôi phục $BACKUP ($KIND, $(sed -n 's/^schema_revision=//p' "$BACKUP/MANIFEST")): $CHECKED tệp được kiểm tra."
echo "Tiếp theo: flask db upgrade, khởi động web và worker, rồi flask portal resend."
