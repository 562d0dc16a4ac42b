from __future__ import annotations

import pytest

from studio import presets
from studio.ids import to_kebab, to_snake


def test_vocabulary_is_large_enough_and_labelled():
    assert len(presets.SCENES) >= 10
    assert len(presets.ENVIRONMENTS) >= 12
    for vocabulary in (presets.SCENES, presets.ENVIRONMENTS, presets.OUTFITS):
        for key, preset in vocabulary.items():
            assert key == preset.id == to_snake(key)
            assert preset.label and preset.fragment


@pytest.mark.parametrize("quality", presets.QUALITY_MODES)
@pytest.mark.parametrize("ratio", presets.ASPECT_RATIOS)
def test_dimensions_are_multiples_of_16_with_the_right_shape(quality, ratio):
    width, height = presets.dimensions_for(ratio, quality)
    assert width % 16 == 0 and height % 16 == 0
    w, h = (int(x) for x in ratio.split(":"))
    assert abs(width / height - w / h) < 0.01
    megapixels = width * height / 1e6
    if quality == "draft":
        assert 0.5 <= megapixels <= 0.7
    else:
        assert 1.0 <= megapixels <= 1.5


@pytest.mark.parametrize(
    ("scale", "ratio", "expected"),
    [(0.125, "9:16", (64, 128)), (0.5, "1:1", (384, 384)), (0.01, "2:3", (16, 16))],
)
def test_scaled_dimensions_stay_multiples_of_16(scale, ratio, expected):
    assert presets.dimensions_for(ratio, "draft", scale=scale) == expected


def test_generation_uses_the_deployments_scale_and_steps(alice, alice_character, settings):
    from studio import services

    settings.STUDIO_SIZE_SCALE = 0.25
    settings.STUDIO_DRAFT_STEPS = 2
    options = services.GenerationOptions(
        scene="selfie",
        environment="beach",
        outfit="dress",
        aspect_ratio="9:16",
        quality_mode="draft",
        count=1,
        nsfw=False,
    )
    services.generation_start(user=alice, character=alice_character, options=options)
    image = alice_character.images.get()
    assert (image.width, image.height, image.steps) == (144, 256, 2)


def test_draft_uses_fewer_steps_than_hq():
    assert presets.steps_for("draft") < presets.steps_for("hq")


def test_compose_prompt_puts_appearance_scene_environment_outfit_and_guidance():
    prompt = presets.compose_prompt(
        appearance="woman,  red hair",
        scene="mirror_selfie",
        environment="gym",
        outfit="activewear",
        quality_mode="hq",
        nsfw=False,
    )
    assert prompt.startswith("woman, red hair, ")
    assert presets.SCENES["mirror_selfie"].fragment in prompt
    assert presets.ENVIRONMENTS["gym"].fragment in prompt
    assert "wearing " + presets.OUTFITS["activewear"].fragment in prompt
    assert presets.SFW_TERMS in prompt and presets.NSFW_TERMS not in prompt


def test_compose_prompt_uses_free_text_outfit_and_nsfw_terms():
    prompt = presets.compose_prompt(
        appearance="man",
        scene="portrait",
        environment="cafe",
        outfit="green   velvet suit",
        quality_mode="draft",
        nsfw=True,
    )
    assert "wearing green velvet suit" in prompt
    assert presets.NSFW_TERMS in prompt


def test_negative_prompt_adds_sfw_guard_only_when_not_nsfw():
    assert presets.SFW_NEGATIVE in presets.compose_negative_prompt(nsfw=False)
    assert presets.SFW_NEGATIVE not in presets.compose_negative_prompt(nsfw=True)


@pytest.mark.parametrize(
    ("value", "snake"),
    [
        ("mirror-selfie", "mirror_selfie"),
        ("mirror_selfie", "mirror_selfie"),
        ("City-Street", "city_street"),
        ("gym", "gym"),
    ],
)
def test_ids_accept_kebab_and_snake(value, snake):
    assert to_snake(value) == snake
    assert to_kebab(snake) == snake.replace("_", "-")


@pytest.mark.parametrize("bad", ["", "a b", "../x", "-x", "x--y", "émoji"])
def test_ids_reject_non_ids(bad):
    with pytest.raises(ValueError):
        to_snake(bad)
