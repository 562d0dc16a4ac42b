from django import template

from studio import presets, services

register = template.Library()


@register.filter
def scene_label(value: str) -> str:
    preset = presets.SCENES.get(value)
    return preset.label if preset else value


@register.filter
def environment_label(value: str) -> str:
    preset = presets.ENVIRONMENTS.get(value)
    return preset.label if preset else value


@register.filter
def outfit_label(value: str) -> str:
    preset = presets.OUTFITS.get(value.strip().lower().replace("-", "_"))
    return preset.label if preset else value


# What went wrong, in the creator's words; the technical message stays one click away.
FAILURE_WORDS = [
    ("Cancelled.", "You cancelled it."),
    ("No ComfyUI backend could take", "The image servers were all unavailable, so it was not "
     "made."),
    ("gave up after", "The image server kept failing, so we stopped trying."),
    ("ComfyUI refused the workflow", "The image server refused the request: it lacks a model or "
     "setting this needs."),
    ("could not be read as an image", "The image server sent back a broken picture."),
    ("without an output image", "The image server finished without a picture."),
    ("Interrupted on the ComfyUI server", "It was stopped on the image server."),
]  # fmt: skip


@register.filter
def failure_words(image) -> str:
    """The plain-words summary of a failed image's error."""
    message = image.error_message or ""
    for marker, words in FAILURE_WORDS:
        if marker in message:
            return words
    return "Something went wrong while it was being made."


@register.simple_tag
def queue_insight(image):
    """Position and estimate of an image in flight (database only)."""
    return services.image_queue_insight(image)


@register.filter
def duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"
