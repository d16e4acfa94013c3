#!/usr/bin/env bash
# Install and run MotCua in embedded mode: SQLite file, in-process jobs, demo data and the sample
# procedures deployed. Idempotent: run it again to update and restart.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-5000}"
PY="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-sandbox.txt
.venv/bin/pybabel compile --use-fuzzy -d app/translations >/dev/null 2>&1 || true
. scripts/pdf-deps.sh
if [ -f package.json ]; then
  command -v npm >/dev/null || { echo "npm is missing (the browser packages in package.json need it): sudo apt-get install npm" >&2; exit 3; }
  npm ci --no-audit --no-fund --loglevel=error
fi

export FLASK_APP=wsgi.py
SANDBOX_PORT="${SANDBOX_PORT:-8090}"
export SANDBOX_TOKEN="${SANDBOX_TOKEN:-sandbox-secret}"
export POPULATION_URL="${POPULATION_URL:-http://127.0.0.1:${SANDBOX_PORT}}" POPULATION_TOKEN="${POPULATION_TOKEN:-$SANDBOX_TOKEN}"
export BUSINESS_URL="${BUSINESS_URL:-http://127.0.0.1:${SANDBOX_PORT}}" BUSINESS_TOKEN="${BUSINESS_TOKEN:-$SANDBOX_TOKEN}"
for provider in TAX SOCIAL_INSURANCE PAYMENT SMS PORTAL; do
  url_var="${provider}_URL" token_var="${provider}_TOKEN"
  export "$url_var=${!url_var:-http://127.0.0.1:${SANDBOX_PORT}}" "$token_var=${!token_var:-$SANDBOX_TOKEN}"
done
export PAYMENT_SECRET="${PAYMENT_SECRET:-sandbox-payment-secret}"
# Single sign-on at the demo identity provider (VNeID) of the demo services; passwords only for the administrator.
export OIDC_ISSUER="${OIDC_ISSUER:-http://127.0.0.1:${SANDBOX_PORT}/vneid}"
export OIDC_CLIENT_ID="${OIDC_CLIENT_ID:-motcua}" OIDC_CLIENT_SECRET="${OIDC_CLIENT_SECRET:-motcua-demo-secret}"
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT:-5000}}"
SMTP_SINK_PORT="${SMTP_SINK_PORT:-8025}"
export SMTP_HOST="${SMTP_HOST:-127.0.0.1}" SMTP_PORT="${SMTP_PORT:-$SMTP_SINK_PORT}"
mkdir -p var
.venv/bin/flask db upgrade
.venv/bin/flask seed
.venv/bin/flask procedures deploy --all

echo
echo "MotCua chạy tại http://127.0.0.1:${PORT}/  (Ctrl+C để dừng)"
echo "  Đăng nhập:       http://127.0.0.1:${PORT}/dang-nhap  («Đăng nhập bằng VNeID»: chọn người trên trang VNeID demo)"
echo "  Cổng công dân:   http://127.0.0.1:${PORT}/          (Nguyễn Văn An mức 2, Trần Thị Bình mức 1, doanh nghiệp An Bình)"
echo "  Hộp công việc:   http://127.0.0.1:${PORT}/can-bo/   (Nguyễn Thị Tiếp, Trần Văn Hộ, Lê Minh Chủ, Phạm Thu Trả …)"
echo "  Thiết kế:        http://127.0.0.1:${PORT}/thiet-ke/ (Ngô Thiết Kế)"
echo "  Quản trị (mật khẩu, khẩn cấp): quantri / demo123; PASSWORD_LOGIN_ADMIN_ONLY=0 cho mọi tài khoản demo"
echo "  API:             http://127.0.0.1:${PORT}/api/v1/openapi.json  (token: .venv/bin/flask users token hotich)"
# The demo national services (population, business registry, tax, social insurance, payment, SMS, national portal,
# the VNeID identity provider, SMTP) beside the platform, stopped with it.
.venv/bin/python -m sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" --smtp-port "$SMTP_SINK_PORT" \
  >var/sandbox.log 2>&1 &
SANDBOX_PID=$!
trap 'kill "$SANDBOX_PID" 2>/dev/null || true' EXIT
echo "  Dịch vụ quốc gia (demo): http://127.0.0.1:${SANDBOX_PORT}/health  (thư: /_mail, SMS: /_sms, Cổng DVCQG: /_portal)"
echo "  Sự cố kết nối:   http://127.0.0.1:${PORT}/can-bo/su-co"

# One process: SQLite and the in-process job worker live in it; threads serve concurrent requests.
# Stopping (Ctrl+C, or TERM to this script from a service manager) reaches gunicorn, which stops gracefully: the
# requests in progress are answered and the job thread runs the jobs it holds (at most JOB_DRAIN_SECONDS, 20 s)
# before the process exits, all within --graceful-timeout.
.venv/bin/gunicorn --workers 1 --threads 8 --graceful-timeout "${GRACEFUL_TIMEOUT:-30}" --bind "127.0.0.1:${PORT}" \
  --access-logfile - wsgi:app &
WEB_PID=$!
trap 'kill -TERM "$WEB_PID" 2>/dev/null || true' INT TERM
while kill -0 "$WEB_PID" 2>/dev/null; do wait "$WEB_PID" || true; done
