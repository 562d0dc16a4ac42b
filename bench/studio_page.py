"""The studio page in headless Chromium: JavaScript shipped, and the mask export time.

    .venv/bin/python bench/studio_page.py

Starts the studio (uvicorn as `make run` does, a temporary SQLite database and media
folder) with one user,
one character and one completed 1024×1024 image, opens the studio page in Debian's Chromium
(/usr/bin/chromium) through Playwright and reports:

1. every script the page loads, raw and gzip-compressed (level 9); goal: total <= 60 KB gzip;
2. the mask editor's export (`exportPng()`, the RGBA PNG sent for inpainting) of a 1024²
   canvas with a painted stroke: median and p95 of 20 exports; goal: median <= 150 ms; as a
   ratio to a bare `canvas.toDataURL()` of a 1024² canvas in the same page;
3. painting on a 2048×2048 image: the editor's work per pointer move (its pointermove
   handler, timed between a capturing listener on window and a bubbling one on document),
   with the hard and the soft brush, at fit and at 4× zoom; goal: p95 < 16 ms (a frame).
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench._machine import free_port, header_print  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
USERNAME, PASSWORD = "bench", "bench-pass-2026"
SEED = """
import io, uuid
from PIL import Image as P, ImageDraw
from django.contrib.auth import get_user_model
from gallery import storage
from gallery.models import Character, Image
user = get_user_model().objects.create_user("{user}", password="{password}")
character = Character.objects.create(owner=user, name="Bench", appearance="woman")
image = Image.objects.create(
    character=character, prompt_id=str(uuid.uuid4()), batch_id=uuid.uuid4(), prompt="p",
    scene="selfie", environment="bedroom", aspect_ratio="1:1", quality_mode="draft",
    seed=1, width=1024, height=1024, steps=8, cfg=1.0,
)
picture = P.effect_noise((1024, 1024), 60).convert("RGB")
out = io.BytesIO(); picture.save(out, format="PNG")
stored = storage.image_store(character_id=character.id, image_id=image.id, png_bytes=out.getvalue())
image.mark_completed(image_key=stored.image_key, thumbnail_key=stored.thumbnail_key,
                     width=1024, height=1024)
big = Image.objects.create(
    character=character, prompt_id=str(uuid.uuid4()), batch_id=uuid.uuid4(), prompt="p",
    scene="selfie", environment="beach", aspect_ratio="1:1", quality_mode="hq",
    seed=2, width=2048, height=2048, steps=8, cfg=1.0,
)
picture = P.effect_noise((2048, 2048), 60).convert("RGB")
out = io.BytesIO(); picture.save(out, format="PNG", compress_level=1)
stored = storage.image_store(character_id=character.id, image_id=big.id, png_bytes=out.getvalue())
big.mark_completed(image_key=stored.image_key, thumbnail_key=stored.thumbnail_key,
                   width=2048, height=2048)
print("SEEDED", character.id, image.id, big.id)
"""


def main() -> None:
    header_print("Studio page")
    work = Path(tempfile.mkdtemp(prefix="ryla-bench-page-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "MEDIA_ROOT": str(work / "media"),
        "AWS_STORAGE_BUCKET_NAME": "",
        "POSTHOG_API_KEY": "",
    }
    python = sys.executable
    server = None
    try:
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run(
            [python, "manage.py", "shell", "-c", SEED.format(user=USERNAME, password=PASSWORD)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if seeded.returncode:
            raise SystemExit(f"seeding failed:\n{seeded.stderr}")
        character_id, image_id, big_id = seeded.stdout.split("SEEDED")[-1].split()
        port = free_port()
        server = subprocess.Popen(
            [python, "-m", "uvicorn", "ryla.asgi:application", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urlopen(f"{base}/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        measure(base, character_id, image_id, big_id)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


STROKE_TIMER = """() => {
  window.__moves = [];
  let start = 0;
  window.addEventListener('pointermove', () => { start = performance.now(); }, true);
  document.addEventListener('pointermove', () => {
    window.__moves.push(performance.now() - start);
  });
}"""


def stroke_timings(page, *, hardness: int, zoom: float) -> list[float]:
    """Handler time of each pointer move of a diagonal drag across the 2048² editor."""
    editor = page.locator("[data-mask-editor]")
    editor.get_by_label("Hardness").fill(str(hardness))
    page.evaluate("() => document.querySelector('[data-mask-editor]').maskEditor.fit()")
    box = page.locator("[data-mask-editor] [data-part=stage]").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    if zoom != 1:
        page.evaluate(
            "([f, x, y]) => document.querySelector('[data-mask-editor]')"
            ".maskEditor.zoomAt(f, x, y)",
            [zoom, cx, cy],
        )
    page.evaluate("() => { window.__moves = []; }")
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.7, steps=120)
    page.mouse.up()
    return sorted(page.evaluate("() => window.__moves"))


def measure(base: str, character_id: str, image_id: str, big_id: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        page.goto(f"{base}/influencer/{character_id}/studio", wait_until="networkidle")
        # Every script the page holds, fetched again uncached (the browser may have some cached).
        urls = page.evaluate("() => [...document.scripts].map((s) => s.src)")
        assert all(urls), "inline scripts on the studio page"
        scripts = {url: urlopen(url).read() for url in urls}

        total_raw = total_gzip = 0
        print("scripts loaded by the studio page:")
        for url, body in sorted(scripts.items()):
            packed = len(gzip.compress(body, compresslevel=9))
            total_raw += len(body)
            total_gzip += packed
            print(f"  {url.removeprefix(base)}: {len(body):,} B raw, {packed:,} B gzip")
        verdict = "PASS" if total_gzip <= 60 * 1024 else "MISS"
        print(
            f"total JavaScript: {total_raw:,} B raw, {total_gzip:,} B gzip "
            f"({total_gzip / 1024:.1f} KiB; goal <= 60 KB: {verdict})"
        )

        page.locator(f'article.image-card[data-image-id="{image_id}"] a.open').click()
        page.locator("#edit-button").click()
        page.locator('[data-mask-editor][data-state="ready"]').wait_for()
        box = page.locator("[data-mask-editor] canvas[data-part=mask]").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.6, steps=20)
        page.mouse.up()
        timings = page.evaluate(
            """async () => {
              const ed = document.querySelector('[data-mask-editor]').maskEditor;
              const bare = document.createElement('canvas');
              bare.width = bare.height = 1024;
              bare.getContext('2d').drawImage(
                document.querySelector('[data-mask-editor] canvas[data-part=image]'), 0, 0);
              const exports = [], plain = [];
              for (let i = 0; i < 20; i++) {
                let t0 = performance.now();
                await ed.exportPng();
                exports.push(performance.now() - t0);
                t0 = performance.now();
                bare.toDataURL('image/png');
                plain.push(performance.now() - t0);
              }
              return [exports, plain];
            }"""
        )
        page.keyboard.press("Escape")
        page.goto(f"{base}/influencer/{character_id}/studio/images/{big_id}/edit")
        page.locator('[data-mask-editor][data-state="ready"]').wait_for()
        page.evaluate(STROKE_TIMER)
        strokes = {
            (hardness, zoom): stroke_timings(page, hardness=hardness, zoom=zoom)
            for hardness in (100, 0)
            for zoom in (1.0, 4.0)
        }
        browser.close()
    for (hardness, zoom), moves in strokes.items():
        p95 = moves[int(0.95 * (len(moves) - 1))]
        verdict = "PASS" if p95 < 16 else "MISS"
        print(
            f"stroke on 2048x2048, hardness {hardness}%, zoom {zoom:g}x: {len(moves)} moves, "
            f"median {statistics.median(moves):.2f} ms, p95 {p95:.2f} ms per move "
            f"(goal p95 < 16 ms: {verdict})"
        )
    exports, plain = (sorted(t) for t in timings)
    median = statistics.median(exports)
    p95 = exports[int(0.95 * (len(exports) - 1))]
    verdict = "PASS" if median <= 150 else "MISS"
    print(
        f"mask export of a 1024x1024 canvas: median {median:.1f} ms, p95 {p95:.1f} ms over "
        f"{len(exports)} (goal median <= 150 ms: {verdict}); "
        f"ratio to a bare toDataURL of the same size: {median / statistics.median(plain):.2f}"
    )


if __name__ == "__main__":
    main()
