"""The creator-facing vocabulary of the studio and how it becomes a prompt.

Pure data and pure functions: no database, no I/O. Ids are snake_case here (as stored);
`studio.ids` converts them for the wire. Aspect ratios and quality modes are the model's
choices (`gallery.models.AspectRatio`, `QualityMode`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gallery.models import AspectRatio, QualityMode


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    fragment: str


def _index(*presets: Preset) -> dict[str, Preset]:
    return {preset.id: preset for preset in presets}


SCENES = _index(
    Preset("selfie", "Selfie", "casual smartphone selfie, arm extended, looking into the lens"),
    Preset(
        "mirror_selfie",
        "Mirror selfie",
        "mirror selfie holding a smartphone, full reflection visible",
    ),
    Preset("portrait", "Portrait", "head and shoulders portrait, shallow depth of field"),
    Preset("full_body", "Full body", "full body shot, standing, head to toe in frame"),
    Preset(
        "candid_lifestyle",
        "Candid lifestyle",
        "candid lifestyle photo, natural unposed moment, documentary style",
    ),
    Preset("fitness", "Fitness", "fitness photo, mid-workout, athletic pose, dynamic energy"),
    Preset(
        "fashion_editorial",
        "Fashion editorial",
        "high fashion editorial, confident pose, magazine photography",
    ),
    Preset("golden_hour", "Golden hour", "golden hour portrait, warm backlight, soft lens flare"),
    Preset("close_up", "Close-up", "close-up of the face, detailed skin texture, catchlights"),
    Preset("sitting", "Sitting", "sitting relaxed, legs crossed, looking at the camera"),
    Preset("walking", "Walking", "walking towards the camera, natural stride, motion"),
    Preset("over_shoulder", "Over the shoulder", "looking back over the shoulder, playful smile"),
)

ENVIRONMENTS = _index(
    Preset("bedroom", "Bedroom", "in a cozy bedroom with soft morning light and white linen"),
    Preset("beach", "Beach", "on a sunny beach, turquoise water and white sand"),
    Preset("cafe", "Café", "in a bright café, wooden tables, coffee cups, plants"),
    Preset("city_street", "City street", "on a busy city street, storefronts, urban bokeh"),
    Preset("gym", "Gym", "in a modern gym, weights and machines, mirrors"),
    Preset("photo_studio", "Photo studio", "in a photo studio, seamless backdrop, softbox light"),
    Preset("pool", "Pool", "by a luxury swimming pool, blue water reflections, sun loungers"),
    Preset("forest", "Forest", "in a green forest, dappled sunlight through the trees"),
    Preset("nightclub", "Nightclub", "in a nightclub, neon lights, haze, colourful spotlights"),
    Preset("kitchen", "Kitchen", "in a modern kitchen, marble counter, morning light"),
    Preset("car", "Car", "in the passenger seat of a car, window light, leather interior"),
    Preset("rooftop", "Rooftop", "on a city rooftop at dusk, skyline in the background"),
)

OUTFITS = _index(
    Preset("casual", "Casual", "casual jeans and a fitted t-shirt"),
    Preset("summer_dress", "Summer dress", "a light flowing summer dress"),
    Preset("activewear", "Activewear", "matching sports bra and leggings"),
    Preset("business", "Business", "a tailored blazer and trousers"),
    Preset("evening_gown", "Evening gown", "an elegant satin evening gown"),
    Preset("streetwear", "Streetwear", "oversized hoodie, cargo pants and sneakers"),
    Preset("swimwear", "Swimwear", "a stylish bikini"),
    Preset("cozy", "Cozy", "an oversized knit sweater and soft shorts"),
    Preset("lingerie", "Lingerie", "lace lingerie"),
)

# The vocabulary itself (values and labels) is the model's choices, shared by the API and
# the forms; presets add what each value means for rendering.
ASPECT_RATIOS = tuple(AspectRatio.values)
QUALITY_MODES = tuple(QualityMode.values)

# Multiples of 16 (the latent is 1/8 and Z-Image patches are 2×2); draft ≈ 0.6 MP, hq ≈ 1–1.3 MP.
DIMENSIONS: dict[str, dict[str, tuple[int, int]]] = {
    QualityMode.DRAFT: {
        AspectRatio.SQUARE: (768, 768),
        AspectRatio.STORY: (576, 1024),
        AspectRatio.PORTRAIT: (640, 960),
    },
    QualityMode.HQ: {
        AspectRatio.SQUARE: (1024, 1024),
        AspectRatio.STORY: (864, 1536),
        AspectRatio.PORTRAIT: (832, 1248),
    },
}
STEPS = {QualityMode.DRAFT: 6, QualityMode.HQ: 9}
CFG = 1.0

QUALITY_TERMS = {
    QualityMode.DRAFT: "photo, natural light",
    QualityMode.HQ: "professional photo, sharp focus, highly detailed skin, natural light, 8k",
}
SFW_TERMS = "fully clothed, tasteful, safe for work"
NSFW_TERMS = "sensual, suggestive, tasteful nudity allowed"
BASE_NEGATIVE = "blurry, deformed hands, extra fingers, distorted face, watermark, text, logo"
SFW_NEGATIVE = "nudity, nipples, genitals, explicit content"

OUTFIT_MAX_LENGTH = 200
DETAILS_MAX_LENGTH = 500
PLAIN_WORDS_MESSAGE = "Use plain words: no <, >, { or }."


def plain_words(value: str) -> str:
    """The creator's own words on one line; ValueError if they hold prompt syntax."""
    cleaned = " ".join(value.split())
    if any(ch in cleaned for ch in "<>{}"):
        raise ValueError(PLAIN_WORDS_MESSAGE)
    return cleaned


def dimensions_for(aspect_ratio: str, quality_mode: str, *, scale: float = 1.0) -> tuple[int, int]:
    """The preset size, times `scale` in multiples of 16 (at least 16): a smaller scale
    keeps a CPU-only or test server's renders affordable with the same aspect ratios."""
    width, height = DIMENSIONS[quality_mode][aspect_ratio]
    if scale == 1.0:
        return width, height
    return tuple(max(16, round(side * scale / 16) * 16) for side in (width, height))


def steps_for(quality_mode: str, *, draft: int = STEPS["draft"], hq: int = STEPS["hq"]) -> int:
    """Sampler steps for a quality mode (the deployment may choose its own counts)."""
    return {QualityMode.DRAFT: draft, QualityMode.HQ: hq}[quality_mode]


def outfit_fragment(outfit: str) -> str:
    """A preset id becomes its fragment; anything else is the creator's own words."""
    key = outfit.strip().lower().replace("-", "_")
    if key in OUTFITS:
        return OUTFITS[key].fragment
    return " ".join(outfit.split())


def compose_prompt(
    *,
    appearance: str,
    scene: str,
    environment: str,
    outfit: str,
    quality_mode: str,
    nsfw: bool,
    details: str = "",
) -> str:
    parts = [
        " ".join(appearance.split()),
        SCENES[scene].fragment,
        ENVIRONMENTS[environment].fragment,
    ]
    if outfit.strip():
        parts.append(f"wearing {outfit_fragment(outfit)}")
    if details.strip():
        parts.append(" ".join(details.split()))
    parts.append(QUALITY_TERMS[quality_mode])
    parts.append(NSFW_TERMS if nsfw else SFW_TERMS)
    return ", ".join(part for part in parts if part)


def compose_negative_prompt(*, nsfw: bool) -> str:
    return BASE_NEGATIVE if nsfw else f"{BASE_NEGATIVE}, {SFW_NEGATIVE}"
