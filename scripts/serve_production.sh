#!/usr/bin/env bash
# Production start-up of the web process, in the order it must happen: apply migrations,
# collect static files (with DJANGO_DEBUG=false every page needs the manifest they write),
# refuse to start on an unsafe configuration, then serve with gunicorn.
#
# Environment: the production variables (README, .env.production.example); PYTHON (default:
# the project's .venv, else python3); BIND (default 0.0.0.0:8000); gunicorn reads
# WEB_CONCURRENCY (workers) and GUNICORN_CMD_ARGS itself.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py collectstatic --noinput --verbosity 0
"$PYTHON" manage.py check --deploy --fail-level WARNING
exec "$PYTHON" -m gunicorn ryla.wsgi --bind "${BIND:-0.0.0.0:8000}" --access-logfile -
