"""The inpaint mask editor (studio/static/studio/mask_editor.js) driven in real Chromium.

Strokes are painted with the real mouse (or touch) through page coordinates; what the editor
would send is read back through its test hook (`element.maskEditor.exportPng()`) and
checked pixel by pixel with Pillow. Positions are chosen in image pixels and mapped to whole
CSS pixels, so the expected areas get a margin of a few image pixels for rounding and for
the anti-aliased edge of a stroke.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageFilter, ImageOps
from playwright.sync_api import expect

from gallery import storage
from gallery.models import Image
from tests.browser.conftest import (
    EDITOR,
    Canvas,
    editor_call,
    exported,
    max_inside,
    min_outside,
    open_editor,
    stroke_area,
)
from tests.factories import make_completed_image, photo_like_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INPAINT_PATH = "/image/edit/inpaint"
EMPTY_MASK = "Paint the area to change first."


def alpha(page) -> PILImage.Image:
    return exported(page).getchannel("A")


def inpaint_requests(page) -> list:
    requests: list = []
    page.on("request", lambda r: requests.append(r) if r.url.endswith(INPAINT_PATH) else None)
    return requests


def horizontal_stroke(canvas: Canvas, y: float, x0: float, x1: float):
    return canvas.stroke(canvas.to_page(x0, y), canvas.to_page(x1, y))


def test_export_is_transparent_exactly_where_painted_and_the_edit_changes_only_there(
    alice_page, live_server, source_image, comfyui
):
    page = alice_page
    open_editor(page, live_server, source_image)
    page.get_by_label("Brush size").fill("60")
    canvas = Canvas(page)
    points = canvas.stroke(
        canvas.to_page(200, 300), canvas.to_page(700, 360), canvas.to_page(820, 700)
    )

    picture = exported(page)
    assert picture.mode == "RGBA"
    assert picture.size == (source_image.width, source_image.height)
    mask_alpha = picture.getchannel("A")
    margin = 2 + canvas.scale
    inner = stroke_area(picture.size, points, 60 - 2 * margin)
    outer = stroke_area(picture.size, points, 60 + 2 * margin)
    assert max_inside(mask_alpha, inner) == 0, "painted pixels must be fully transparent"
    assert min_outside(mask_alpha, outer) == 255, "unpainted pixels must stay opaque"
    # Kept pixels carry the source's colours unchanged.
    with PILImage.open(io.BytesIO(storage.file_read(source_image.image_key))) as source:
        source_rgb = source.convert("RGB")
    rgb_diff = ImageChops.difference(picture.convert("RGB"), source_rgb).convert("L")
    assert max_inside(rgb_diff, ImageOps.invert(outer)) == 0

    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(EDITOR)).to_have_count(0)
    edited = Image.objects.get(source_image=source_image)
    card = page.locator(f'#gallery article.image-card[data-image-id="{edited.id}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=15_000)
    edited.refresh_from_db()

    with PILImage.open(io.BytesIO(storage.file_read(edited.mask_key))) as sent:
        sent_alpha = sent.getchannel("A")
    with PILImage.open(io.BytesIO(storage.file_read(edited.image_key))) as result:
        result_rgb = result.convert("RGB")
    assert result_rgb.size == source_rgb.size
    changed = (
        ImageChops.difference(result_rgb, source_rgb).convert("L").point(lambda v: 255 * (v > 0))
    )
    painted = sent_alpha.point(lambda a: 255 * (a < 255))
    near_painted = painted.filter(ImageFilter.MaxFilter(5))  # 2 px of edge margin
    assert max_inside(changed, ImageOps.invert(near_painted)) == 0, (
        "pixels changed outside the mask"
    )
    fully_painted = sent_alpha.point(lambda a: 255 * (a == 0))
    changed_inside = ImageChops.multiply(changed, fully_painted).histogram()[255]
    assert changed_inside > 0.5 * fully_painted.histogram()[255], (
        "the painted area was not repainted"
    )


@pytest.mark.parametrize("size", [1024, 2048])
def test_apply_sends_a_megabyte_mask_of_a_photograph_and_the_edit_completes(
    alice_page, live_server, alice_character, comfyui, size
):
    """A real output is a photograph: the editor's export of it is megabytes, not kilobytes."""
    source_png = photo_like_png(size, size, mode="RGB")
    source = make_completed_image(alice_character, source_png, width=size, height=size)
    page = alice_page
    open_editor(page, live_server, source)
    page.get_by_label("Brush size").fill("120")
    canvas = Canvas(page)
    canvas.stroke(canvas.to_page(size * 0.3, size * 0.4), canvas.to_page(size * 0.7, size * 0.5))
    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    with page.expect_response(lambda r: r.url.endswith(INPAINT_PATH), timeout=30_000) as sent:
        page.get_by_role("button", name="Apply").click()
    response = sent.value
    assert response.status == 202, response.text()[:300]
    body_bytes = len(response.request.post_data_buffer)
    assert body_bytes > 1024 * 1024, body_bytes
    expect(page.locator(EDITOR)).to_have_count(0)
    edited = Image.objects.get(source_image=source)
    card = page.locator(f'#gallery article.image-card[data-image-id="{edited.id}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
    print(f"{size}²: inpaint body {body_bytes / 1e6:.1f} MB")


def test_undo_removes_the_last_stroke_and_redo_brings_it_back(
    alice_page, live_server, source_image
):
    page = alice_page
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)
    undo = page.get_by_role("button", name="Undo")
    expect(undo).to_be_disabled()

    horizontal_stroke(canvas, 200, 100, 900)
    first = alpha(page)
    horizontal_stroke(canvas, 700, 100, 900)
    both = alpha(page)
    assert ImageChops.difference(first, both).getbbox() is not None

    undo.click()
    assert ImageChops.difference(alpha(page), first).getbbox() is None
    page.keyboard.press("Control+z")
    assert editor_call(page, "ed.isEmpty()") is True
    assert alpha(page).getextrema() == (255, 255)
    expect(undo).to_be_disabled()

    page.keyboard.press("Control+Shift+z")
    assert ImageChops.difference(alpha(page), first).getbbox() is None
    page.keyboard.press("Control+y")
    assert ImageChops.difference(alpha(page), both).getbbox() is None
    expect(page.get_by_role("button", name="Redo")).to_be_disabled()

    page.get_by_role("button", name="Clear").click()
    assert editor_call(page, "ed.isEmpty()") is True
    undo.click()  # Clear is undoable too
    assert ImageChops.difference(alpha(page), both).getbbox() is None


def test_invert_flips_painted_and_unpainted_pixels(alice_page, live_server, source_image):
    page = alice_page
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)
    horizontal_stroke(canvas, 500, 200, 800)
    before = alpha(page)
    assert before.getpixel((500, 500)) == 0 and before.getpixel((20, 20)) == 255

    page.get_by_role("button", name="Invert").click()
    after = alpha(page)
    assert after.getpixel((500, 500)) == 255 and after.getpixel((20, 20)) == 0
    # Every pixel, including anti-aliased edges, becomes its complement (±1 for rounding).
    assert ImageChops.difference(after, ImageOps.invert(before)).getextrema()[1] <= 1

    page.get_by_role("button", name="Undo").click()
    assert ImageChops.difference(alpha(page), before).getbbox() is None


def test_empty_or_full_mask_and_missing_prompt_are_refused_without_a_request(
    alice_page, live_server, source_image
):
    page = alice_page
    requests = inpaint_requests(page)
    open_editor(page, live_server, source_image)
    status = page.locator(f"{EDITOR} [role=status]")
    apply = page.get_by_role("button", name="Apply")

    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    apply.click()
    expect(status).to_have_text(EMPTY_MASK)

    page.get_by_role("button", name="Invert").click()  # everything painted: nothing kept
    apply.click()
    expect(status).to_contain_text("Leave part of the image unpainted")
    page.get_by_role("button", name="Undo").click()

    canvas = Canvas(page)
    horizontal_stroke(canvas, 500, 200, 800)
    page.get_by_label("Prompt", exact=True).fill("   ")
    apply.click()
    expect(page.locator("#mask-editor-prompt-error")).to_have_text("Describe the change you want.")
    expect(page.get_by_label("Prompt", exact=True)).to_be_focused()
    expect(page.get_by_label("Prompt", exact=True)).to_have_attribute("aria-invalid", "true")

    page.wait_for_timeout(200)
    assert requests == []
    expect(page.locator(EDITOR)).to_have_count(1)


def test_server_errors_are_shown_and_apply_is_disabled_while_sending(
    alice_page, live_server, source_image, comfyui
):
    page = alice_page
    requests = inpaint_requests(page)
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)
    horizontal_stroke(canvas, 500, 200, 800)
    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    page.evaluate(
        """() => {
          const apply = document.querySelector('[data-mask-editor] [data-part=apply]');
          window.applyDisabledWhileSending = false;
          new MutationObserver(() => {
            if (apply.disabled) window.applyDisabledWhileSending = true;
          }).observe(apply, { attributes: true });
        }"""
    )

    # The server's field message lands next to the field (seed above the API's maximum).
    seed = page.locator(EDITOR).get_by_label("Seed")
    seed.fill(str(2**53))
    page.get_by_role("button", name="Apply").click()
    seed_error = page.locator("#mask-editor-seed-error")
    expect(seed_error).to_contain_text("less than or equal to")
    expect(seed).to_have_attribute("aria-invalid", "true")
    assert len(requests) == 1
    assert page.evaluate("window.applyDisabledWhileSending") is True
    expect(page.get_by_role("button", name="Apply")).to_be_enabled()

    # A `{detail}` answer (here a 503) goes to the status region.
    page.route(
        f"**{INPAINT_PATH}",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps({"detail": "No ComfyUI backend is reachable."}),
        ),
    )
    seed.fill("")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(f"{EDITOR} [role=status]")).to_have_text("No ComfyUI backend is reachable.")
    expect(seed_error).to_be_empty()
    expect(page.locator(EDITOR)).to_have_count(1)
    assert not Image.objects.filter(source_image=source_image).exists()


def test_stroke_past_the_edge_paints_to_the_edge_and_the_next_stroke_starts_clean(
    alice_page, live_server, source_image
):
    page = alice_page
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)  # brush 40 image px
    right = canvas.box["x"] + canvas.box["width"]
    start = canvas.to_page(800, 300)
    canvas.stroke(
        start,
        (right + 60, start[1]),  # out of the canvas, over the side panel
        (right + 60, canvas.to_page(0, 600)[1]),  # down, still outside
    )
    canvas.stroke(canvas.to_page(150, 850), canvas.to_page(300, 850))

    mask_alpha = alpha(page)
    for y in (320, 450, 580):  # along the right edge, where the pointer was outside
        assert mask_alpha.getpixel((1023, y)) == 0, y
        assert mask_alpha.getpixel((1012, y)) == 0, y
    assert mask_alpha.getpixel((1012, 700)) == 255  # below where the pointer went
    assert mask_alpha.getpixel((225, 850)) == 0  # the second stroke
    # A line from the end of the first stroke to the start of the second would cross here.
    for t in (0.25, 0.5, 0.75):
        x, y = 1024 + (150 - 1024) * t, 600 + (850 - 600) * t
        assert mask_alpha.getpixel((round(x), round(y))) == 255, (x, y)


@pytest.mark.browser_context_args(viewport={"width": 375, "height": 740}, has_touch=True)
def test_editor_fits_a_phone_works_with_touch_traps_focus_and_closes_on_escape(
    alice_page, live_server, source_image, artifacts
):
    page = alice_page
    open_editor(page, live_server, source_image)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = page.locator(f"{EDITOR} canvas[data-part=mask]").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    for name in ("Apply", "Undo", "Invert"):
        button = page.locator(EDITOR).get_by_role("button", name=name, exact=True)
        button.scroll_into_view_if_needed()
        button_box = button.bounding_box()
        assert button_box["x"] >= 0 and button_box["x"] + button_box["width"] <= 375, name

    page.locator(f"{EDITOR} canvas[data-part=mask]").scroll_into_view_if_needed()
    canvas = Canvas(page)
    page.touchscreen.tap(*canvas.to_page(512, 512))
    assert editor_call(page, "ed.isEmpty()") is False
    assert alpha(page).getpixel((512, 512)) == 0
    page.screenshot(path=str(artifacts / "editor-375.png"))

    inside = "document.querySelector('[data-mask-editor]').contains(document.activeElement)"
    for _ in range(22):
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)

    page.get_by_label("Prompt", exact=True).focus()  # Escape works from a text field too
    page.keyboard.press("Escape")
    expect(page.locator(EDITOR)).to_have_count(0)
    expect(page.locator("#modal-root")).to_be_empty()
    expect(page.locator("#edit-button")).to_be_focused()
    assert page.evaluate("document.documentElement.classList.contains('mask-editor-open')") is False


def test_keyboard_changes_brush_size_and_toggles_the_eraser(alice_page, live_server, source_image):
    page = alice_page
    open_editor(page, live_server, source_image)
    size = page.get_by_label("Brush size")
    expect(size).to_have_value("40")

    page.keyboard.press("]")
    page.keyboard.press("]")
    grown = int(size.input_value())
    assert grown > 40
    assert editor_call(page, "ed.size") == grown
    expect(page.locator(f"{EDITOR} #mask-editor-size-out")).to_have_text(f"{grown} px")
    page.keyboard.press("[")
    assert int(size.input_value()) < grown

    canvas = Canvas(page)
    horizontal_stroke(canvas, 500, 200, 800)
    page.keyboard.press("x")
    expect(page.get_by_role("radio", name="Eraser")).to_be_checked()
    assert editor_call(page, "ed.tool") == "eraser"
    page.keyboard.press("]")  # a wider eraser over the same path removes the whole stroke
    page.keyboard.press("]")
    horizontal_stroke(canvas, 500, 150, 850)
    assert editor_call(page, "ed.isEmpty()") is True

    # Typed into a text field, the same keys are just text.
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.click()
    page.keyboard.type("x]")
    expect(prompt).to_have_value("x]")
    expect(page.get_by_role("radio", name="Eraser")).to_be_checked()
    page.locator(EDITOR).focus()
    page.keyboard.press("x")
    expect(page.get_by_role("radio", name="Brush")).to_be_checked()


def test_painting_clears_the_paint_first_message_and_readback_needs_no_gpu_copy(
    alice_page, live_server, source_image
):
    page = alice_page
    warnings: list[str] = []
    page.on(
        "console", lambda m: warnings.append(m.text) if "willReadFrequently" in m.text else None
    )
    open_editor(page, live_server, source_image)
    status = page.locator(f"{EDITOR} [role=status]")
    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    page.get_by_role("button", name="Apply").click()
    expect(status).to_have_text(EMPTY_MASK)
    # Apply scrolled the dialog down to itself: bring the picture back into view to paint.
    page.locator(f"{EDITOR} canvas[data-part=mask]").scroll_into_view_if_needed()
    canvas = Canvas(page)
    horizontal_stroke(canvas, 300, 100, 600)
    expect(status).to_have_text("")  # the stale message goes with the first stroke
    for _ in range(3):
        exported(page)
    assert editor_call(page, "ed.isEmpty()") is False
    assert warnings == []  # Chromium warns about repeated readbacks without the flag


def _stage_centre(page) -> tuple[float, float]:
    box = page.locator(f"{EDITOR} [data-part=stage]").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_zoom_with_wheel_and_keys_pan_with_space_and_paint_exactly_while_zoomed(
    alice_page, live_server, source_image, artifacts
):
    page = alice_page
    open_editor(page, live_server, source_image)
    cx, cy = _stage_centre(page)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -600)  # wheel up over the image zooms in around the pointer
    expect(page.locator(f"{EDITOR} [data-part=zoom]")).not_to_have_text("100%")
    view = editor_call(page, "ed.view")
    assert view["z"] > 2
    # A stroke at zoom lands on the image pixels under the pointer (read through the transform).
    canvas = Canvas(page)
    points = canvas.stroke(canvas.to_page(500, 500), canvas.to_page(540, 500))
    mask = alpha(page)
    assert mask.getpixel((520, 500)) == 0 and mask.getpixel((520, 560)) == 255
    assert all(0 <= x <= 1024 for x, _ in points)
    page.screenshot(path=str(artifacts / "editor-zoom.png"))
    # Space + drag pans; the picture never leaves the stage.
    page.locator(f"{EDITOR} canvas[data-part=mask]").focus()
    page.keyboard.down(" ")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 80, steps=4)
    page.mouse.up()
    page.keyboard.up(" ")
    panned = editor_call(page, "ed.view")
    assert (panned["x"], panned["y"]) != (view["x"], view["y"]) and panned["x"] <= 0
    assert editor_call(page, "ed.coverage().painted") is True
    assert alpha(page).getpixel((520, 500)) == 0  # panning painted nothing new, lost nothing
    page.keyboard.press("0")
    assert editor_call(page, "ed.view") == {"z": 1, "x": 0, "y": 0}
    page.keyboard.press("+")
    assert editor_call(page, "ed.view")["z"] == 1.5
    page.locator(EDITOR).get_by_role("button", name="Fit").click()
    assert editor_call(page, "ed.view")["z"] == 1


@pytest.mark.parametrize("shape", ["rect", "ellipse"])
def test_a_rectangle_or_ellipse_mask_is_made_with_the_keyboard_alone(
    alice_page, live_server, source_image, shape
):
    page = alice_page
    open_editor(page, live_server, source_image)
    page.locator(f"{EDITOR} canvas[data-part=mask]").focus()
    page.keyboard.press("r" if shape == "rect" else "e")
    assert editor_call(page, "ed.tool") == shape
    page.keyboard.press("ArrowRight")  # places the shape over the middle third
    expect(page.locator(f"{EDITOR} [data-part=shape]")).to_be_visible()
    page.keyboard.press("ArrowRight")  # moves it a fiftieth of the image (20 px)
    page.keyboard.press("Shift+ArrowDown")  # and makes it 20 px taller
    pending = editor_call(page, "ed.pending")
    x, y, w, h = (round(pending[k]) for k in ("x", "y", "w", "h"))
    assert (x, y, w, h) == (361, 341, 341, 361)
    expect(page.locator(f"{EDITOR} [data-part=status]")).to_contain_text("Enter fills it")
    page.keyboard.press("Enter")
    expect(page.locator(f"{EDITOR} [data-part=shape]")).to_be_hidden()
    mask = alpha(page)
    assert mask.getpixel((x + w // 2, y + h // 2)) == 0  # the centre is repainted
    assert (
        mask.getpixel((x - 2, y + h // 2)) == 255 and mask.getpixel((x + w // 2, y + h + 2)) == 255
    )
    corner = mask.getpixel((x + 3, y + 3))
    assert corner == (0 if shape == "rect" else 255)  # an ellipse leaves its corners
    page.keyboard.press("Control+z")
    assert editor_call(page, "ed.isEmpty()") is True
    # Escape with a shape being placed drops the shape, not the editor.
    page.locator(f"{EDITOR} canvas[data-part=mask]").focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Escape")
    expect(page.locator(f"{EDITOR} [data-part=shape]")).to_be_hidden()
    expect(page.locator(EDITOR)).to_have_count(1)


def test_a_soft_brush_fades_its_edge_and_the_mask_colour_and_opacity_are_display_only(
    alice_page, live_server, source_image
):
    page = alice_page
    open_editor(page, live_server, source_image)
    page.locator(EDITOR).get_by_label("Hardness").fill("0")
    canvas = Canvas(page)
    horizontal_stroke(canvas, 300, 300, 700)
    mask = alpha(page)
    assert mask.getpixel((500, 300)) == 0  # full repaint along the middle of the stroke
    edge = [mask.getpixel((500, 300 + d)) for d in range(0, 40)]
    assert any(0 < value < 255 for value in edge)  # a partial repaint at the edge
    # Colour and opacity change only what is shown: the exported mask stays the same.
    page.locator(EDITOR).get_by_label("Mask colour").select_option("cyan")
    assert page.locator(EDITOR).get_attribute("data-colour") == "0,220,255"
    page.locator(EDITOR).get_by_label("Mask opacity").fill("80")
    assert (
        page.locator(f"{EDITOR} canvas[data-part=mask]").evaluate("c => c.style.opacity") == "0.8"
    )
    assert ImageChops.difference(alpha(page), mask).getbbox() is None


def test_auto_mask_colour_stands_out_from_the_picture(alice_page, live_server, alice_character):
    page = alice_page
    pink = PILImage.new("RGB", (256, 256), (250, 70, 130))
    out = io.BytesIO()
    pink.save(out, format="PNG")
    image = make_completed_image(alice_character, out.getvalue(), width=256, height=256)
    open_editor(page, live_server, image)
    assert page.locator(EDITOR).get_attribute("data-colour") != "255,60,120"


def test_apply_sends_the_inpaint_settings(alice_page, live_server, source_image):
    page = alice_page
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)
    horizontal_stroke(canvas, 400, 300, 600)
    editor = page.locator(EDITOR)
    editor.get_by_label("Prompt", exact=True).fill("a red scarf")
    editor.get_by_text("Inpaint settings").click()
    editor.get_by_label("Denoise").fill("0.6")
    expect(editor.locator('[data-out-for="denoise"]')).to_have_text("0.60")
    editor.get_by_label("Feather").fill("12")
    editor.get_by_label("Only the masked area, at full detail").check()
    editor.get_by_label("Padding").fill("64")
    with page.expect_request(lambda r: r.url.endswith(INPAINT_PATH)) as sent:
        editor.get_by_role("button", name="Apply").click()
    body = json.loads(sent.value.post_data)
    assert (body["denoise"], body["maskFeather"], body["onlyMasked"], body["maskPadding"]) == (
        0.6,
        12,
        True,
        64,
    )


@pytest.mark.browser_context_args(viewport={"width": 390, "height": 844}, has_touch=True)
def test_two_fingers_pinch_to_zoom_and_drop_the_dab_of_the_first(
    alice_page, live_server, source_image
):
    page = alice_page
    open_editor(page, live_server, source_image)
    page.locator(f"{EDITOR} canvas[data-part=mask]").scroll_into_view_if_needed()
    cx, cy = _stage_centre(page)
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
            },
        )

    touch("touchStart", [(cx - 20, cy)])
    touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for spread in (40, 60, 80, 100):
        touch("touchMove", [(cx - spread, cy), (cx + spread, cy)])
    touch("touchEnd", [])
    assert editor_call(page, "ed.view")["z"] > 2
    assert editor_call(page, "ed.isEmpty()") is True  # the pinch painted nothing


@pytest.mark.parametrize(
    "feather, only_masked", [(16, False), (0, True), (24, True)], ids=["feather", "only", "both"]
)
def test_feathered_and_only_masked_edits_keep_every_pixel_outside_the_mask(
    alice_page, live_server, source_image, comfyui, feather, only_masked
):
    page = alice_page
    open_editor(page, live_server, source_image)
    editor = page.locator(EDITOR)
    editor.get_by_label("Brush size").fill("80")
    canvas = Canvas(page)
    canvas.stroke(canvas.to_page(380, 420), canvas.to_page(560, 470), canvas.to_page(600, 620))
    editor.get_by_label("Prompt", exact=True).fill("a silver necklace")
    editor.get_by_text("Inpaint settings").click()
    editor.get_by_label("Feather").fill(str(feather))
    editor.get_by_label("Denoise").fill("0.75")
    if only_masked:
        editor.get_by_label("Only the masked area, at full detail").check()
        editor.get_by_label("Padding").fill("32")
    editor.get_by_role("button", name="Apply").click()
    expect(page.locator(EDITOR)).to_have_count(0)
    edited = Image.objects.get(source_image=source_image)
    assert (edited.mask_feather, edited.only_masked, edited.denoise) == (
        feather,
        only_masked,
        0.75,
    )
    card = page.locator(f'#gallery article.image-card[data-image-id="{edited.id}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=20_000)
    edited.refresh_from_db()
    with PILImage.open(io.BytesIO(storage.file_read(edited.mask_key))) as sent:
        kept = sent.getchannel("A").point(lambda a: 255 * (a == 255))
    with PILImage.open(io.BytesIO(storage.file_read(source_image.image_key))) as source:
        before = source.convert("RGB")
    with PILImage.open(io.BytesIO(storage.file_read(edited.image_key))) as result:
        after = result.convert("RGB")
    changed = ImageChops.difference(after, before).convert("L").point(lambda v: 255 * (v > 0))
    # Strict: not one pixel the mask keeps may differ, not even at the edge of the feather.
    assert max_inside(changed, kept) == 0, "pixels changed outside the mask"
    painted = ImageOps.invert(kept)
    assert ImageChops.multiply(changed, painted).histogram()[255] > 0, "nothing was repainted"
