from django import template

from studio import presets

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
