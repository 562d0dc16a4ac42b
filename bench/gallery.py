"""Gallery benchmark: SQL queries, server time and throughput of a character's image list.

What it measures, on SQLite and on PostgreSQL, against 20,000 seeded images (one character
holds 10,000 of them, another 10; the rest are spread over 18 more characters and 5 users):

1. SQL queries per request of `GET /image-gallery/characters/<id>/images?limit=50`, for the
   first page of the 10-image character, the first page of the 10,000-image character, a
   deep page (page 100, reached by following `next` links) and the last page. Goal: at most
   4, and the same number for 10 as for 10,000 images.
2. Server time of those requests, in process (Django test client, whole middleware and DRF
   stack, no network): median and p95 of `--repeat` runs. Goal: median <= 50 ms.
3. Requests per second under `gunicorn -w 2`, load driven over loopback by a second process
   (`wrk` when installed, else a Python load generator), for the gallery's first page and
   for a trivial authenticated DRF endpoint on the same server: `GET /characters` as a user
   who owns one character (token auth + one query). Goal: gallery/trivial >= 0.5.

Every figure is printed next to the ratio measured in the same run (deep/first, big/small,
gallery/trivial), so runs on different machines compare by their ratios.

Run from the repository root (PostgreSQL: a local server that `--pg-url` reaches; the
database named there is dropped, created, and dropped again at the end):

    .venv/bin/python bench/gallery.py                      # both databases, 20,000 images
    .venv/bin/python bench/gallery.py --db sqlite --images 20000
    .venv/bin/python bench/gallery.py --db postgres --conn-max-age 0

Each database is benchmarked in its own child process (Django binds DATABASE_URL when it
reads settings), with DJANGO_DEBUG=false. The database connection lifetime is the project's
(DATABASE_CONN_MAX_AGE, 60 s: persistent connections) unless `--conn-max-age` says
otherwise; with 0 (a new connection per request) on PostgreSQL the connection costs more
than the trivial endpoint's own work, which flatters the gallery/trivial ratio. Exit status
1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# This file is bench/gallery.py: the project's `gallery` app, not this script, must resolve.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import free_port, header_print, percentile  # noqa: E402

PAGE = 50
QUERY_GOAL = 4
TIME_GOAL_MS = 50.0
RATIO_GOAL = 0.5
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/ryla_bench"
PG_SYSTEM_DATABASES = {"postgres", "template0", "template1"}


# --- Orchestrator (no Django here) -------------------------------------------------------


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    header_print("Gallery: SQL queries, server time and req/s of a page of 50 images")
    figures = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        figures.append(run_database(db, args))
    print_overall(figures)
    return 0 if all(f["pass"] for f in figures) else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--images", type=int, default=20_000, help="images in the database")
    parser.add_argument("--big", type=int, default=None, help="images of the big character")
    parser.add_argument("--small", type=int, default=10, help="images of the small character")
    parser.add_argument("--repeat", type=int, default=50, help="timed requests per case")
    parser.add_argument("--deep-page", type=int, default=100, help="page number of the deep page")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=2, help="load rounds (ABBA order)")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        help="DATABASE_CONN_MAX_AGE, seconds (default: as in the environment, else 0)",
    )
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL database to (re)create")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.add_argument("--db-label", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big is None:
        args.big = args.images // 2
    if args.big + args.small > args.images:
        parser.error("--big + --small must not exceed --images")
    return args


def run_database(db: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"ryla-bench-{db}-"))
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        url = args.pg_url
        pg_recreate(url, create=True)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "ryla.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "MEDIA_ROOT": str(workdir / "media"),
        "LOG_LEVEL": "WARNING",
        "POSTHOG_API_KEY": "",
        "PYTHONUNBUFFERED": "1",
    }
    if args.conn_max_age is not None:
        env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    result_file = workdir / "result.json"
    try:
        print(f"[{db}] migrating {redact(url)} ...", flush=True)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        child = [sys.executable, str(Path(__file__).resolve()), "--child"]
        child += [f"--db-label={db}", f"--result-file={result_file}"]
        child += [f"--images={args.images}", f"--big={args.big}", f"--small={args.small}"]
        child += [f"--repeat={args.repeat}", f"--deep-page={args.deep_page}"]
        child += [f"--duration={args.duration}", f"--connections={args.connections}"]
        child += [f"--rounds={args.rounds}"]
        subprocess.run(child, cwd=REPO, env=env, check=True)
        return json.loads(result_file.read_text())
    finally:
        if db == "postgres":
            pg_recreate(url, create=False)
        shutil.rmtree(workdir, ignore_errors=True)


def pg_recreate(url: str, *, create: bool) -> None:
    """Drop the benchmark database (and create it afresh when `create`)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in PG_SYSTEM_DATABASES:
        raise SystemExit(f"refusing to drop database {name!r}: name a throwaway database")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def print_overall(figures: list[dict]) -> None:
    print("\n== Overall ==")
    head = f"{'db':<10}{'queries':>9}{'median ms (first/deep)':>25}{'req/s ratio':>13}  result"
    print(head)
    for f in figures:
        times = f"{f['big_first_ms']:.1f} / {f['deep_ms']:.1f}"
        verdict = "PASS" if f["pass"] else "MISS"
        print(f"{f['db']:<10}{f['queries']:>9}{times:>25}{f['rps_ratio']:>13.2f}  {verdict}")


# --- Child: one database, Django set up --------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    # DEBUG off serves static files from STATIC_ROOT, which the API never reads.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    import django

    django.setup()
    from django.conf import settings

    db = args.db_label
    print(f"[{db}] seeding {args.images:,} images ...", flush=True)
    started = time.perf_counter()
    data = seed(total=args.images, big=args.big, small=args.small)
    print(f"[{db}] seeded in {time.perf_counter() - started:.1f} s", flush=True)

    print(f"[{db}] timing requests in process ...", flush=True)
    cases, walk = measure_in_process(data, repeat=args.repeat, deep_page=args.deep_page)
    plans = {
        "first page": explain_page(data, None),
        f"page {walk['deep_page']}": explain_page(data, walk["deep_cursor"]),
    }

    print(f"[{db}] load under gunicorn ...", flush=True)
    load = measure_throughput(data, args)

    report = {
        "db": db,
        "database": database_describe(),
        "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE", 0),
        "data": data["summary"],
        "cases": cases,
        "walk": {k: v for k, v in walk.items() if k != "deep_cursor"},
        "plans": plans,
        "load": load,
    }
    verdict = print_report(report, args)
    Path(args.result_file).write_text(json.dumps(verdict))
    return 0


def seed(*, total: int, big: int, small: int) -> dict:
    """Users with tokens, 20 characters (+1 for the baseline user) and `total` images."""
    import uuid
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from gallery import storage
    from gallery.models import Character, Image

    scenes = ["selfie", "portrait", "full_body", "golden_hour", "walking"]
    environments = ["beach", "cafe", "city_street", "bedroom", "rooftop"]
    prompt = (
        "woman, 25, long dark hair, hazel eyes, casual smartphone selfie, arm extended, "
        "looking into the lens, on a sunny beach, turquoise water and white sand, wearing a "
        "light flowing summer dress, photo, natural light"
    )
    negative = "blurry, deformed hands, extra fingers, watermark, text, lowres"
    User = get_user_model()
    with transaction.atomic():
        users = [User.objects.create_user(f"bench{i}", password=None) for i in range(5)]
        tokens = [Token.objects.create(user=user).key for user in users]
        characters = [
            Character.objects.create(
                owner=users[i // 4], name=f"Character {i:02d}", appearance="woman, 25"
            )
            for i in range(20)
        ]
        baseline_user = User.objects.create_user("bench-baseline", password=None)
        Character.objects.create(owner=baseline_user, name="Only one", appearance="man, 30")
        baseline_token = Token.objects.create(user=baseline_user).key

        rest = total - big - small
        counts = [big, small] + [rest // 18 + (1 if i < rest % 18 else 0) for i in range(18)]
        start = timezone.now() - timedelta(days=365)
        batch: list[Image] = []
        for character, count in zip(characters, counts, strict=True):
            last_completed = None
            for n in range(count):
                pack, index = divmod(n, 4)
                # Packs are 4 images a minute apart, microseconds apart inside a pack (as
                # services.generate writes them); every 10th pack shares one instant so
                # that the keyset's id tie-break is exercised too.
                offset = timedelta(microseconds=0 if pack % 10 == 9 else index)
                image_id = uuid.uuid4()
                status = "failed" if n % 20 == 7 else "generating" if n % 50 == 3 else "completed"
                done = status == "completed"
                edit = done and last_completed is not None and n % 10 == 0
                created = start + timedelta(minutes=pack) + offset
                batch.append(
                    Image(
                        id=image_id,
                        character=character,
                        batch_id=uuid.uuid5(character.id, str(pack)),
                        batch_index=index,
                        batch_size=4,
                        status=status,
                        progress=100 if done else 40 if status == "generating" else 0,
                        error_message="ComfyUI node error" if status == "failed" else "",
                        scene=scenes[n % len(scenes)],
                        environment=environments[n % len(environments)],
                        outfit="summer_dress",
                        aspect_ratio="1:1",
                        quality_mode="draft",
                        prompt=prompt,
                        negative_prompt=negative,
                        seed=n + 1,
                        width=768,
                        height=768,
                        steps=6,
                        cfg=1.0,
                        workflow="flux_fill_inpaint" if edit else "studio_image",
                        prompt_id=str(image_id),
                        image_key=storage.image_key_for(character.id, image_id) if done else "",
                        thumbnail_key=(
                            storage.thumbnail_key_for(character.id, image_id) if done else ""
                        ),
                        source_image_id=last_completed if edit else None,
                        edit_type="inpaint" if edit else None,
                        created_at=created,
                        completed_at=created + timedelta(seconds=9) if done else None,
                    )
                )
                if done:
                    last_completed = image_id
                if len(batch) >= 2000:
                    Image.objects.bulk_create(batch)
                    batch = []
        Image.objects.bulk_create(batch)
    # Statistics as a live database has them (autovacuum would gather them soon after a bulk
    # load; without them PostgreSQL sorts all of a character's rows for every page).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "token": tokens[0],
        "baseline_token": baseline_token,
        "big": str(characters[0].id),
        "small": str(characters[1].id),
        "summary": {
            "images": Image.objects.count(),
            "characters": Character.objects.count(),
            "users": User.objects.count(),
            "big": Image.objects.filter(character=characters[0]).count(),
            "small": Image.objects.filter(character=characters[1]).count(),
        },
    }


def gallery_path(character_id: str, cursor: str | None = None) -> str:
    path = f"/image-gallery/characters/{character_id}/images?limit={PAGE}"
    return f"{path}&cursor={cursor}" if cursor else path


def cursor_of(next_url: str | None) -> str | None:
    if not next_url:
        return None
    return parse_qs(urlsplit(next_url).query)["cursor"][0]


def measure_in_process(data: dict, *, repeat: int, deep_page: int) -> tuple[dict, dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"Authorization": f"Token {data['token']}"})
    baseline = Client(headers={"Authorization": f"Token {data['baseline_token']}"})

    # Walk the big character's pages by their `next` links: every image once, none twice.
    seen: list[str] = []
    cursors: list[str | None] = [None]
    while True:
        response = client.get(gallery_path(data["big"], cursors[-1]))
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        seen += [image["id"] for image in body["images"]]
        cursor = cursor_of(body["next"])
        if cursor is None:
            break
        cursors.append(cursor)
    pages = len(cursors)
    walk = {
        "pages": pages,
        "images_seen": len(seen),
        "distinct": len(set(seen)),
        "expected": data["summary"]["big"],
        "deep_page": min(deep_page, pages),
        "deep_cursor": cursors[min(deep_page, pages) - 1],
    }
    walk["ok"] = walk["images_seen"] == walk["distinct"] == walk["expected"]

    cases = {
        "baseline": (baseline, "/characters"),
        "small_first": (client, gallery_path(data["small"])),
        "big_first": (client, gallery_path(data["big"])),
        "deep": (client, gallery_path(data["big"], walk["deep_cursor"])),
        "last": (client, gallery_path(data["big"], cursors[-1])),
    }
    results = {}
    for name, (who, path) in cases.items():
        for _ in range(5):  # warm-up
            who.get(path)
        times, queries = [], set()
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = who.get(path)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
            queries.add(len(captured.captured_queries))
        body = response.json()
        results[name] = {
            "path": path,
            "queries": sorted(queries),
            "sql": [q["sql"][:160] for q in captured.captured_queries],
            "median_ms": statistics.median(times),
            "p95_ms": percentile(times, 95),
            "bytes": len(response.content),
            "rows": len(body["images"]) if isinstance(body, dict) else len(body),
        }
    return results, walk


def explain_page(data: dict, cursor: str | None) -> list[str]:
    """The database's plan for a page's image query as the API builds it (executed on
    PostgreSQL, with actual rows and times)."""
    from django.db import connection

    from gallery.models import Character, Image
    from studio.pagination import cursor_decode

    images = Image.objects.for_character(Character.objects.get(pk=data["big"])).newest_first()
    if cursor:
        images = images.older_than(*cursor_decode(cursor))
    options = {"analyze": True} if connection.vendor == "postgresql" else {}
    return images[: PAGE + 1].explain(**options).splitlines()


# --- Throughput ---------------------------------------------------------------------------


def measure_throughput(data: dict, args: argparse.Namespace) -> dict:
    tool = "wrk" if shutil.which("wrk") else "python"
    with gunicorn_server(data) as base:
        targets = {
            "baseline": (f"{base}/characters", data["baseline_token"]),
            "gallery": (f"{base}{gallery_path(data['big'])}", data["token"]),
        }
        for url, token in targets.values():
            status, body = fetch(url, token)
            assert status == 200, (url, status, body[:300])
        for url, token in targets.values():  # warm-up: imports, caches, connections
            drive(tool, url, token, connections=args.connections, duration=2)
        runs: dict[str, list[dict]] = {"baseline": [], "gallery": []}
        order = []
        for r in range(args.rounds):
            order += ["baseline", "gallery"] if r % 2 == 0 else ["gallery", "baseline"]
        for name in order:
            url, token = targets[name]
            runs[name].append(
                drive(tool, url, token, connections=args.connections, duration=args.duration)
            )
    rps = {name: statistics.mean(run["rps"] for run in r) for name, r in runs.items()}
    latency = {name: statistics.mean(run["latency_ms"] for run in r) for name, r in runs.items()}
    errors = {name: sum(run["errors"] for run in r) for name, r in runs.items()}
    return {
        "tool": tool,
        "order": order,
        "rps": rps,
        "runs": {name: [round(run["rps"], 1) for run in r] for name, r in runs.items()},
        "latency_ms": latency,
        "errors": errors,
        "ratio": rps["gallery"] / rps["baseline"],
    }


@contextlib.contextmanager
def gunicorn_server(data: dict) -> Iterator[str]:
    """`gunicorn -w 2` on a free loopback port with this process's environment; stopped after."""
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "ryla.wsgi:application", "-w", "2", "-b", f"127.0.0.1:{port}"]
    with tempfile.TemporaryDirectory(prefix="ryla-bench-gunicorn-") as tmp:
        log_path = Path(tmp) / "gunicorn.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                base = f"http://127.0.0.1:{port}"
                wait_until_up(server, f"{base}/characters", data["baseline_token"], log_path)
                yield base
            finally:
                stop(server)


def fetch(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(server: subprocess.Popen, url: str, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-2000:]}")
        try:
            if fetch(url, token)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer: {log_path.read_text()[-2000:]}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def drive(tool: str, url: str, token: str, *, connections: int, duration: int) -> dict:
    if tool == "wrk":
        return drive_wrk(url, token, connections=connections, duration=duration)
    return drive_python(url, token, connections=connections, duration=duration)


def drive_wrk(url: str, token: str, *, connections: int, duration: int) -> dict:
    threads = max(1, min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s"]
    command += ["-H", f"Authorization: Token {token}", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[latency.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(0)))
    return {"rps": rps, "latency_ms": float(latency.group(1)) * scale, "errors": errors}


def drive_python(url: str, token: str, *, connections: int, duration: int) -> dict:
    """Fallback load: `connections` processes, each sending requests back to back."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(connections) as pool:
        parts = pool.starmap(_python_load, [(url, token, duration)] * connections)
    done = sum(p[0] for p in parts)
    errors = sum(p[1] for p in parts)
    latency = sum(p[2] for p in parts) / max(1, done) * 1000
    return {"rps": done / duration, "latency_ms": latency, "errors": errors}


def _python_load(url: str, token: str, duration: float) -> tuple[int, int, float]:
    import http.client

    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    done = errors = 0
    busy = 0.0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn.request("GET", target, headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
            if response.will_close:
                conn.close()
        except OSError:
            conn.close()
            ok = False
        busy += time.perf_counter() - started
        done += ok
        errors += not ok
    conn.close()
    return done, errors, busy


# --- Report -------------------------------------------------------------------------------


def database_describe() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(r: dict, args: argparse.Namespace) -> dict:
    d, c, w, load = r["data"], r["cases"], r["walk"], r["load"]
    labels = {
        "baseline": "GET /characters (trivial, 1 character)",
        "small_first": f"gallery first page, {d['small']:,} images",
        "big_first": f"gallery first page, {d['big']:,} images",
        "deep": f"gallery page {w['deep_page']} of {w['pages']} (deep)",
        "last": f"gallery page {w['pages']} (last)",
    }
    gallery = ("small_first", "big_first", "deep", "last")
    counts = {name: c[name]["queries"] for name in c}
    all_counts = {n for name in gallery for n in counts[name]}
    queries_ok = len(all_counts) == 1 and max(all_counts) <= QUERY_GOAL
    time_ok = all(c[name]["median_ms"] <= TIME_GOAL_MS for name in gallery)
    ratio_ok = load["ratio"] >= RATIO_GOAL and not any(load["errors"].values())

    print(f"\n== Gallery benchmark · {r['db']} ==")
    print(f"database  : {r['database']} · DATABASE_CONN_MAX_AGE={r['conn_max_age']}")
    print(
        f"data      : {d['images']:,} images · {d['characters']} characters · {d['users']} users"
        f" · big character {d['big']:,} · small character {d['small']:,} · page of {PAGE}"
    )
    print(
        f"walk      : {w['pages']} pages by `next` links, {w['images_seen']:,} images seen,"
        f" {w['distinct']:,} distinct, {w['expected']:,} expected -> {mark(w['ok'])}"
    )
    print(f"\nSQL queries per request (goal <= {QUERY_GOAL}, equal for 10 and 10,000 images)")
    for name, label in labels.items():
        print(f"  {label:<44}{'/'.join(map(str, counts[name])):>6}")
    print(f"  -> {mark(queries_ok)}")
    print("  gallery queries (big first page):")
    for sql in c["big_first"]["sql"]:
        print(f"    {sql}")
    for page, plan in r["plans"].items():
        print(f"  plan of the image query, {page} ({r['database'].split()[0]}):")
        for line in plan:
            print(f"    {line[:150]}")

    base_ms = c["baseline"]["median_ms"]
    print(
        f"\nServer time in process, ms (median / p95 of {args.repeat};"
        f" goal median <= {TIME_GOAL_MS:.0f} ms)"
    )
    print(f"  {'':<44}{'median':>8}{'p95':>8}{'x trivial':>11}{'bytes':>9}")
    for name, label in labels.items():
        case = c[name]
        print(
            f"  {label:<44}{case['median_ms']:>8.2f}{case['p95_ms']:>8.2f}"
            f"{case['median_ms'] / base_ms:>11.2f}{case['bytes']:>9,}"
        )
    small, first = c["small_first"]["median_ms"], c["big_first"]["median_ms"]
    print(
        f"  ratios: big/small first page {first / small:.2f} · deep/first"
        f" {c['deep']['median_ms'] / first:.2f} · last/first {c['last']['median_ms'] / first:.2f}"
    )
    print(f"  -> {mark(time_ok)}")

    tool = (
        f"wrk -t2 -c{args.connections} -d{args.duration}s"
        if load["tool"] == "wrk"
        else f"python load generator, {args.connections} processes, {args.duration} s"
    )
    print(
        f"\nThroughput: gunicorn -w 2 (sync), loopback load by {tool},"
        f" {args.rounds} rounds ({' '.join(load['order'])})"
    )
    for name, label in (("baseline", labels["baseline"]), ("gallery", labels["big_first"])):
        print(
            f"  {label:<44}{load['rps'][name]:>9.1f} req/s  (runs {load['runs'][name]},"
            f" mean latency {load['latency_ms'][name]:.1f} ms, errors {load['errors'][name]})"
        )
    print(f"  ratio gallery/trivial {load['ratio']:.2f} (goal >= {RATIO_GOAL}) -> {mark(ratio_ok)}")
    for name, values in load["runs"].items():
        spread = (max(values) - min(values)) / max(min(values), 1e-9)
        if spread > 0.15:
            print(f"  note: {name} runs differ by {spread:.0%}; the machine was busy, run again")
    passed = queries_ok and time_ok and ratio_ok and w["ok"]
    print(f"\n{r['db']}: {mark(passed)}")
    return {
        "db": r["db"],
        "queries": "/".join(map(str, sorted(all_counts))),
        "big_first_ms": first,
        "deep_ms": c["deep"]["median_ms"],
        "rps_ratio": load["ratio"],
        "pass": passed,
    }


if __name__ == "__main__":
    sys.exit(main())
