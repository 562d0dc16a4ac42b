from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from ryla.celery import app as celery_app
from studio import services


class Command(BaseCommand):
    help = (
        "Run a render worker: a Celery worker bound to ComfyUI backends, which takes a job "
        "from the queue only when one of its backends is free. One per GPU server "
        "(`--backend http://gpu-3:8188`), or one for several (`--backend` repeated)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--backend",
            action="append",
            dest="backends",
            help="a ComfyUI URL this worker renders on (repeat for several; default COMFYUI_URLS)",
        )
        parser.add_argument("--name", help="worker name (default: host:pid)")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, backends: list[str] | None, name: str | None, loglevel: str, **options):
        urls = backends or list(settings.COMFYUI_URLS)
        state = services.render_worker_start(urls, name=name)
        self.stdout.write(
            f"render worker {state.name}: queue {settings.STUDIO_RENDER_QUEUE!r}, "
            f"backends {', '.join(state.urls)}"
        )
        self.stdout.flush()
        try:
            celery_app.worker_main(
                [
                    "worker",
                    "--pool=threads",
                    f"--concurrency={len(state.urls)}",
                    f"--queues={settings.STUDIO_RENDER_QUEUE}",
                    f"--hostname=render-{state.name}@%h",
                    "--prefetch-multiplier=1",
                    "--without-mingle",
                    "--without-gossip",
                    f"--loglevel={loglevel}",
                ]
            )
        finally:
            services.render_worker_stop()
