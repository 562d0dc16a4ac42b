from django import template

from gallery import storage

register = template.Library()


@register.filter
def file_url(key: str) -> str:
    """The client URL of a stored file: presigned on S3, login-checked locally."""
    return storage.file_url(key)
