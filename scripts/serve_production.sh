#!/usr/bin/env bash
# Production start-up of the web process, in the order it must happen: apply migrations,
# collect static files (with DJANGO_DEBUG=false every page needs the manifest they write),
# refuse to start on an unsafe configuration, then serve the ASGI app with uvicorn (the
# studio's live updates are long-lived Server-Sent Events streams).
#
# Environment: the production variables (README, .env.production.example); PYTHON (default:
# the project's .venv, else python3); BIND (default 0.0.0.0:8000); WEB_CONCURRENCY (uvicorn
# worker processes, default 2); FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-* headers
# are trusted, default 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py collectstatic --noinput --verbosity 0
"$PYTHON" manage.py check --deploy --fail-level WARNING
BIND=${BIND:-0.0.0.0:8000}
exec "$PYTHON" -m uvicorn ryla.asgi:application \
  --host "${BIND%:*}" --port "${BIND##*:}" \
  --workers "${WEB_CONCURRENCY:-2}" \
  --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
