"""Reconciliation under concurrency and faults, over real sockets to the simulator.

These tests commit for real (transaction=True) so that every thread sees the rows; on
PostgreSQL they exercise SELECT ... FOR UPDATE, on SQLite its IMMEDIATE transactions.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from gallery.models import Image, ImageStatus
from studio import services
from tests.factories import make_character, make_user
from tests.studio.helpers import generate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner_api():
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = make_user("carol")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return user, client


def _count_saves(monkeypatch) -> list[str]:
    from gallery import storage

    saved: list[str] = []
    original = storage.image_store

    def counting(**kwargs):
        saved.append(str(kwargs["image_id"]))
        return original(**kwargs)

    monkeypatch.setattr(storage, "image_store", counting)
    return saved


def _run_threads(count: int, target) -> list[Exception]:
    errors: list[Exception] = []
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait()
            target()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_twenty_concurrent_reconcilers_store_the_output_once(
    owner_api, comfyui, monkeypatch, analytics_events
):
    user, api = owner_api
    response = generate(api, make_character(user))
    prompt_id = response.json()["promptIds"][0]
    comfyui.wait_idle()
    saved = _count_saves(monkeypatch)

    errors = _run_threads(20, lambda: services.prompt_reconcile(prompt_id))

    assert errors == []
    image = Image.objects.get(prompt_id=prompt_id)
    assert image.status == ImageStatus.COMPLETED
    assert saved == [str(image.id)]
    assert analytics_events.names().count("generation_image_completed") == 1
    assert analytics_events.names().count("generation_pack_completed") == 1


def test_two_concurrent_worker_passes_store_each_output_once(owner_api, comfyui, monkeypatch):
    user, api = owner_api
    response = generate(api, make_character(user), count=6)
    comfyui.wait_idle()
    saved = _count_saves(monkeypatch)

    errors = _run_threads(2, services.prompts_reconcile_in_flight)

    assert errors == []
    images = Image.objects.filter(prompt_id__in=response.json()["promptIds"])
    assert {i.status for i in images} == {ImageStatus.COMPLETED}
    assert sorted(saved) == sorted(str(i.id) for i in images)


def test_storage_failure_keeps_image_in_flight_then_completes_next_pass(
    owner_api, comfyui, monkeypatch
):
    from gallery import storage

    user, api = owner_api
    prompt_id = generate(api, make_character(user)).json()["promptIds"][0]
    comfyui.wait_idle()
    original = storage.image_store

    def broken(**kwargs):
        raise OSError("bucket unavailable")

    monkeypatch.setattr(storage, "image_store", broken)
    services.prompts_reconcile_in_flight()
    assert Image.objects.get(prompt_id=prompt_id).is_in_flight

    saved = _count_saves(monkeypatch) if False else []
    monkeypatch.setattr(storage, "image_store", lambda **kw: saved.append(1) or original(**kw))
    services.prompts_reconcile_in_flight()
    services.prompts_reconcile_in_flight()
    assert Image.objects.get(prompt_id=prompt_id).status == ImageStatus.COMPLETED
    assert saved == [1]
