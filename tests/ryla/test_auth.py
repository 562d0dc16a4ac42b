"""Password guessing is limited on all three login paths, per account and per address, and
a client cannot dodge it (or the token throttle) by inventing an X-Forwarded-For."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import make_user

PASSWORD = "pw-for-tests-1"
BROWSER = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _page_login(client: Client, path: str, username: str, password: str, **extra):
    return client.post(path, {"username": username, "password": password}, **BROWSER, **extra)


def _token_login(client: APIClient, username: str, password: str, **extra):
    body = {"username": username, "password": password}
    return client.post("/auth/token", body, format="json", **extra)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_page_login_locks_the_account_after_the_limit_even_for_the_right_password(db, path):
    make_user("carol", is_staff=True)
    client = Client()
    for _ in range(4):
        response = _page_login(client, path, "carol", "wrong")
        assert response.status_code == 200  # the form again, with its error
    assert _page_login(client, path, "carol", "wrong").status_code == 429  # the 5th
    response = _page_login(client, path, "carol", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()
    assert int(response["Retry-After"]) == 900
    assert not _logged_in(client)


def test_token_login_locks_the_account_with_a_json_429(db):
    make_user("carol")
    client = APIClient()
    for _ in range(4):
        assert _token_login(client, "carol", "wrong").status_code == 403
    assert _token_login(client, "carol", "wrong").status_code == 429
    response = _token_login(client, "carol", PASSWORD)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "Too many failed login attempts" in response.json()["detail"]
    assert "token" not in response.json()


def test_lockout_ends_after_the_window(db, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    make_user("carol")
    client = Client()
    for _ in range(5):
        _page_login(client, "/login/", "carol", "wrong")
    assert _page_login(client, "/login/", "carol", PASSWORD).status_code == 429
    time.sleep(1.2)
    response = _page_login(client, "/login/", "carol", PASSWORD)
    assert response.status_code == 302
    assert _logged_in(client)


def test_the_account_is_locked_from_every_address(db):
    make_user("carol")
    for number in range(5):
        _page_login(Client(), "/login/", "carol", "wrong", REMOTE_ADDR=f"10.0.0.{number}")
    response = _page_login(Client(), "/login/", "carol", PASSWORD, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429


def test_an_address_spraying_many_accounts_is_locked_but_others_are_not(db):
    make_user("dave")
    for number in range(5):
        _page_login(Client(), "/login/", f"guess{number}", "wrong", REMOTE_ADDR="10.0.0.66")
    locked = _page_login(Client(), "/login/", "dave", PASSWORD, REMOTE_ADDR="10.0.0.66")
    assert locked.status_code == 429
    elsewhere = Client()
    response = _page_login(elsewhere, "/login/", "dave", PASSWORD, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 302 and _logged_in(elsewhere)


def test_a_success_before_the_limit_resets_the_count(db):
    make_user("carol")
    for _ in range(4):
        _page_login(Client(), "/login/", "carol", "wrong")
    assert _page_login(Client(), "/login/", "carol", PASSWORD).status_code == 302
    for _ in range(4):
        _page_login(Client(), "/login/", "carol", "wrong")
    assert _page_login(Client(), "/login/", "carol", PASSWORD).status_code == 302


def test_forged_forwarded_for_does_not_spread_guesses_over_addresses(db):
    for number in range(5):
        forged = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{number}"}
        _page_login(Client(), "/login/", f"guess{number}", "wrong", **forged)
    make_user("erin")
    forged = {"HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert _page_login(Client(), "/login/", "erin", PASSWORD, **forged).status_code == 429


def test_behind_one_proxy_the_address_it_appended_is_the_client(db, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The proxy connects from 10.0.0.1 and appends the real client to what it was sent.
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for number in range(5):
        xff = {"HTTP_X_FORWARDED_FOR": f"1.1.1.{number}, 192.0.2.50"}
        _page_login(Client(), "/login/", f"guess{number}", "wrong", **proxy, **xff)
    make_user("frank")
    same = {"HTTP_X_FORWARDED_FOR": "9.9.9.9, 192.0.2.50"}
    assert _page_login(Client(), "/login/", "frank", PASSWORD, **proxy, **same).status_code == 429
    other = {"HTTP_X_FORWARDED_FOR": "192.0.2.51"}
    assert _page_login(Client(), "/login/", "frank", PASSWORD, **proxy, **other).status_code == 302


def test_token_throttle_ignores_forged_forwarded_for(db, settings):
    settings.AXES_FAILURE_LIMIT = 1000
    make_user("gina")
    client = APIClient()
    codes = [
        _token_login(
            client, "gina", PASSWORD, HTTP_X_FORWARDED_FOR=f"203.0.113.{number}"
        ).status_code
        for number in range(25)
    ]
    assert codes[:20] == [200] * 20
    assert set(codes[20:]) == {429}
