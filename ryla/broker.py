"""The embedded broker of `make run`: kombu's SQLAlchemy transport on a SQLite file.

Its only change is how often an idle worker looks for a job (0.2 s instead of 1 s): kombu
reads `polling_interval` from the transport options but the SQLAlchemy transport also
passes those options on to `create_engine`, which refuses it, so it is set on the class.
Registered as the `sqla` alias (kombu's TRANSPORT_ALIASES) by `ryla.celery`.

Limits (README): one machine (the file is local), jobs are polled, no priorities (first
in, first out), no remote control of workers.
"""

from __future__ import annotations

import os

from kombu.transport.sqlalchemy import Transport


class EmbeddedTransport(Transport):
    polling_interval = 0.2


def transport_options_for(url: str) -> dict:
    """Celery's broker_transport_options for a broker URL.

    Redis: ten priority lists consumed in order (the publisher and the workers must agree
    on them, so they are always set with the URL), and the visibility timeout after which
    a job whose worker vanished goes back (the sweep usually re-enqueues it first). The
    SQLAlchemy transport hands its options to create_engine, so it gets none.
    """
    scheme = url.split("://", 1)[0]
    if scheme in ("redis", "rediss"):
        return {
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT") or 900),
            "socket_timeout": 10,
            "socket_connect_timeout": 2,
        }
    return {}
