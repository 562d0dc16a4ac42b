"""The studio's side effects, by job. Views, API, tasks and commands call these.

- generation: start a pack (rows + enqueue);
- inpaint: validate a mask, start an edit;
- dispatch: the job queue (urgency, publishing after commit, the sweep);
- rendering: the render worker's side (run a job on its backend, store the output once);
- results: queue position and estimate, cancel, retry, how an image ends.
"""

from studio.services.dispatch import renders_sweep
from studio.services.generation import MAX_SEED, GenerationOptions, generation_start
from studio.services.inpaint import inpaint_start, mask_validate
from studio.services.rendering import image_render, render_worker_start, render_worker_stop
from studio.services.results import (
    QueueInsight,
    image_cancel,
    image_delete,
    image_favourite_set,
    image_queue_insight,
    image_retry,
)

__all__ = [
    "MAX_SEED",
    "GenerationOptions",
    "QueueInsight",
    "generation_start",
    "image_cancel",
    "image_delete",
    "image_favourite_set",
    "image_queue_insight",
    "image_render",
    "image_retry",
    "inpaint_start",
    "mask_validate",
    "render_worker_start",
    "render_worker_stop",
    "renders_sweep",
]
