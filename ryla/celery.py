"""The Celery application: render tasks and their workers (see studio.tasks)."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ryla.settings")
TRANSPORT_ALIASES["sqla"] = "ryla.broker:EmbeddedTransport"

app = Celery("ryla")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
