"""The embedded broker of `make run`: kombu's SQLAlchemy transport on a SQLite file.

Its only change is how often an idle worker looks for a job (0.2 s instead of 1 s): kombu
reads `polling_interval` from the transport options but the SQLAlchemy transport also
passes those options on to `create_engine`, which refuses it, so it is set on the class.
Registered as the `sqla` alias (kombu's TRANSPORT_ALIASES) by `ryla.celery`.

Limits (README): one machine (the file is local), jobs are polled, no priorities (first
in, first out), no remote control of workers.
"""

from kombu.transport.sqlalchemy import Transport


class EmbeddedTransport(Transport):
    polling_interval = 0.2
