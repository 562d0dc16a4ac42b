from __future__ import annotations

from io import StringIO

from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from gallery.models import Character


def test_seed_demo_creates_user_and_two_characters_once(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())
    user = get_user_model().objects.get(username="demo")
    characters = Character.objects.filter(owner=user)
    assert characters.count() == 2
    assert sorted(c.nsfw_enabled for c in characters) == [False, True]
    assert "password" in out.getvalue()
    password = out.getvalue().split("password:")[1].split()[0]
    request = RequestFactory().post("/login/")
    assert authenticate(request, username="demo", password=password) == user
