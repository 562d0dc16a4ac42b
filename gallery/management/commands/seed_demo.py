"""Create the demo user and two characters; running it again changes nothing."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from gallery.models import Character

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "ryla-demo-2026"

DEMO_CHARACTERS = [
    {
        "name": "Mia Santos",
        "appearance": (
            "25 year old woman, warm olive skin, long wavy dark brown hair, hazel eyes, "
            "light freckles, athletic build, natural makeup"
        ),
        "nsfw_enabled": False,
    },
    {
        "name": "Luna Vale",
        "appearance": (
            "27 year old woman, pale skin, platinum blonde bob, grey-blue eyes, "
            "slim build, small tattoo on the left wrist, bold red lipstick"
        ),
        "nsfw_enabled": True,
    },
]


class Command(BaseCommand):
    help = "Create a demo user (prints its credentials) and two characters, one NSFW-enabled."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=DEMO_USERNAME)
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args, username: str, password: str, **options) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        for spec in DEMO_CHARACTERS:
            Character.objects.get_or_create(owner=user, name=spec["name"], defaults=spec)
        state = "created" if created else "already existed; its password was left unchanged"
        self.stdout.write(f"Demo user {username!r} {state}.")
        self.stdout.write(f"Log in with username: {username}  password: {password}")
