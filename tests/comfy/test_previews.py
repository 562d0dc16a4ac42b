"""Step previews: binary websocket frames as ComfyUI 0.3.64 builds them (server.py
`encode_bytes`, `send_image`, `send_image_with_metadata`), the simulator sending them over
real sockets, and `prompt_follow` handing the followed prompt's previews to its caller."""

from __future__ import annotations

import io
import json
import struct
import uuid

import pytest
import websocket
from PIL import Image

from comfy.client import ComfyClient
from comfy.follow import Finished, prompt_follow
from comfy.simulator import SimulatorOptions
from comfy.workflows import build_studio_image_workflow
from comfy.ws import EventStream, WsPreview, parse_binary_frame


def _picture(image_format: str = "JPEG", size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


def _encode_bytes(event: int, data: bytes) -> bytes:
    """ComfyUI's PromptServer.encode_bytes."""
    return struct.pack(">I", event) + data


def _comfy_preview_image(image_format: str) -> bytes:
    """PromptServer.send_image: PREVIEW_IMAGE, the format number, the encoded image."""
    type_num = {"JPEG": 1, "PNG": 2}[image_format]
    return _encode_bytes(1, struct.pack(">I", type_num) + _picture(image_format))


def _comfy_preview_with_metadata(metadata: dict, image_format: str = "JPEG") -> bytes:
    """PromptServer.send_image_with_metadata: JSON length, JSON, image."""
    metadata = {**metadata, "image_type": "image/png" if image_format == "PNG" else "image/jpeg"}
    encoded = json.dumps(metadata).encode("utf-8")
    return _encode_bytes(4, struct.pack(">I", len(encoded)) + encoded + _picture(image_format))


def _decodes(data: bytes) -> tuple[str, tuple[int, int]]:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture.format, picture.size


# --- the parser ------------------------------------------------------------------------


@pytest.mark.parametrize(("image_format", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_a_preview_image_frame_gives_the_image_and_no_prompt(image_format, mime):
    preview = parse_binary_frame(_comfy_preview_image(image_format))

    assert isinstance(preview, WsPreview)
    assert (preview.mime, preview.prompt_id, preview.node_id) == (mime, None, None)
    assert _decodes(preview.image) == (image_format, (24, 16))


def test_a_preview_with_metadata_names_its_prompt_and_node():
    metadata = {
        "node_id": "9",
        "prompt_id": "p-1",
        "display_node_id": "9",
        "parent_node_id": None,
        "real_node_id": "9",
    }
    preview = parse_binary_frame(_comfy_preview_with_metadata(metadata, "PNG"))

    assert (preview.mime, preview.prompt_id, preview.node_id) == ("image/png", "p-1", "9")
    assert _decodes(preview.image) == ("PNG", (24, 16))


def test_a_preview_with_metadata_but_no_image_type_is_told_by_its_bytes():
    encoded = json.dumps({"prompt_id": "p-1"}).encode()
    frame = _encode_bytes(4, struct.pack(">I", len(encoded)) + encoded + _picture("JPEG"))

    assert parse_binary_frame(frame).mime == "image/jpeg"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x00\x00\x01",  # a type and nothing else
        _encode_bytes(1, struct.pack(">I", 1)),  # no image bytes
        _encode_bytes(1, struct.pack(">I", 7) + b"\xff\xd8\xff"),  # unknown format
        _encode_bytes(2, struct.pack(">I", 1) + b"\xff\xd8\xff"),  # UNENCODED_PREVIEW_IMAGE
        _encode_bytes(3, struct.pack(">I", 1) + b"9" + b"some text"),  # TEXT
        _encode_bytes(4, struct.pack(">I", 500) + b"{}"),  # JSON longer than the frame
        _encode_bytes(4, struct.pack(">I", 3) + b"{x}" + b"\xff\xd8\xff"),  # not JSON
        _encode_bytes(4, struct.pack(">I", 2) + b"[]" + b"\xff\xd8\xff"),  # not an object
        _encode_bytes(4, struct.pack(">I", 2) + b"{}" + b"not a picture"),  # unknown bytes
    ],
)
def test_other_and_broken_binary_frames_are_no_preview(frame):
    assert parse_binary_frame(frame) is None


# --- the simulator over real sockets ---------------------------------------------------


def _queue(url: str, client_id: str, seed: int = 1, steps: int = 3) -> str:
    prompt_id = str(uuid.uuid4())
    graph = build_studio_image_workflow("a fox", "", seed, 96, 64, steps)
    ComfyClient(url, timeout=5, retries=0).queue_prompt(
        graph, prompt_id=prompt_id, client_id=client_id
    )
    return prompt_id


def _frames(url: str, client_id: str, *, flags: bool) -> list:
    """Every frame until the queued prompt is done: JSON types, and binary frames as bytes."""
    connection = websocket.create_connection(
        url.replace("http://", "ws://") + f"/ws?clientId={client_id}", timeout=5
    )
    frames: list = []
    try:
        if flags:
            connection.send(
                json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
            )
            while not frames or frames[-1] != "feature_flags":  # answered: the flags are set
                frames.append(json.loads(connection.recv())["type"])
        prompt_id = _queue(url, client_id)
        while True:
            try:
                opcode, payload = connection.recv_data()
            except websocket.WebSocketTimeoutException:
                return frames
            if opcode == websocket.ABNF.OPCODE_BINARY:
                frames.append(payload)
                continue
            message = json.loads(payload)
            frames.append(message["type"])
            data = message["data"]
            if message["type"] == "executing" and (data["node"], data["prompt_id"]) == (
                None,
                prompt_id,
            ):
                return frames
    finally:
        connection.close()


def _sampler_block(frames: list) -> list:
    """The sampler's steps (from the registry update before the first step to the last
    step): event names, binary frames as their type."""
    names = [
        f"binary{struct.unpack('>I', f[:4])[0]}" if isinstance(f, bytes) else f for f in frames
    ]
    steps = [i for i, name in enumerate(names) if name in ("progress", "binary1", "binary4")]
    return names[steps[0] - 1 : steps[-1] + 1]


def test_without_a_preview_method_the_simulator_sends_no_binary_frame(make_simulator):
    sim = make_simulator(steps=3)
    frames = _frames(sim.url, "mine", flags=True)
    assert not [frame for frame in frames if isinstance(frame, bytes)]


def test_the_simulator_sends_comfyuis_preview_image_after_each_step(make_simulator):
    sim = make_simulator(steps=3, preview_method="auto")
    frames = _frames(sim.url, "mine", flags=False)

    # As ComfyUI's progress hook for a client without preview metadata.
    assert _sampler_block(frames) == ["progress_state", "progress", "binary1"] * 3
    previews = [parse_binary_frame(frame) for frame in frames if isinstance(frame, bytes)]
    assert all(p.mime == "image/jpeg" and p.prompt_id is None for p in previews)
    formats_and_sizes = {_decodes(p.image) for p in previews}
    assert formats_and_sizes == {("JPEG", (512, 341))}  # fits ComfyUI's --preview-size


def test_a_client_that_announces_preview_metadata_gets_previews_naming_the_prompt(
    make_simulator,
):
    sim = make_simulator(steps=3, preview_method="latent2rgb")
    frames = _frames(sim.url, "mine", flags=True)

    assert frames[:2] == ["status", "feature_flags"]
    assert _sampler_block(frames) == ["progress_state", "binary4", "progress"] * 3
    (prompt_id,) = {parse_binary_frame(f).prompt_id for f in frames if isinstance(f, bytes)}
    assert prompt_id in sim.simulator.history
    metadata_length = struct.unpack(">I", frames[frames.index("progress") - 1][4:8])[0]
    metadata = json.loads(frames[frames.index("progress") - 1][8 : 8 + metadata_length])
    assert sorted(metadata) == [
        "display_node_id",
        "image_type",
        "node_id",
        "parent_node_id",
        "prompt_id",
        "real_node_id",
    ]


def test_previews_go_only_to_the_client_that_queued_the_prompt(make_simulator):
    sim = make_simulator(steps=3, preview_method="auto")
    other = websocket.create_connection(sim.url.replace("http://", "ws://") + "/ws?clientId=o")
    other.settimeout(0.3)
    try:
        _frames(sim.url, "mine", flags=False)
        received = []
        while True:
            try:
                received.append(other.recv_data()[0])
            except websocket.WebSocketTimeoutException:
                break
    finally:
        other.close()
    assert websocket.ABNF.OPCODE_BINARY not in received


def test_the_simulator_refuses_an_unknown_preview_method():
    with pytest.raises(ValueError, match="preview_method"):
        SimulatorOptions(preview_method="pretty")


# --- prompt_follow ----------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [True, False], ids=["with-metadata", "preview-image"])
def test_follow_hands_over_the_previews_of_its_prompt_only(make_simulator, metadata):
    """Two prompts of one client: following the second, the first one's previews (named,
    or sent while the first was executing) are not handed over."""
    sim = make_simulator(step_ms=20, steps=3, preview_method="auto")
    client = ComfyClient(sim.url, timeout=2, retries=0, backoff=0)
    stream = EventStream(sim.url, "w1", preview_metadata=metadata)
    _queue(sim.url, "w1", seed=1)
    second = _queue(sim.url, "w1", seed=2)
    previews: list[tuple[bytes, str]] = []
    progress: list[tuple] = []
    try:
        outcome = prompt_follow(
            client,
            second,
            events=stream,
            on_progress=lambda value, maximum: progress.append((value, maximum)),
            on_preview=lambda image, mime: previews.append((image, mime)),
            keep_going=lambda: True,
        )
    finally:
        stream.close()

    assert isinstance(outcome, Finished) and outcome.entry.succeeded
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert len(previews) == 3
    assert {mime for _, mime in previews} == {"image/jpeg"}
    assert {_decodes(image)[0] for image, _ in previews} == {"JPEG"}


def test_next_event_skips_previews(make_simulator):
    sim = make_simulator(steps=2, preview_method="auto")
    stream = EventStream(sim.url, "w1")
    try:
        _queue(sim.url, "w1", steps=2)
        types = []
        while (event := stream.next_event(timeout=2)) is not None:
            types.append(event.type)
            if event.is_prompt_done:
                break
    finally:
        stream.close()
    assert types.count("progress") == 2
