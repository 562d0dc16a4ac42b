from __future__ import annotations

from django import forms

from gallery.models import AspectRatio, QualityMode
from studio import presets
from studio.services.generation import MAX_SEED, GenerationOptions


def _choices(vocabulary: dict[str, presets.Preset]) -> list[tuple[str, str]]:
    return [(key, preset.label) for key, preset in vocabulary.items()]


def _plain_words(value: str) -> str:
    try:
        return presets.plain_words(value)
    except ValueError as error:
        raise forms.ValidationError(str(error)) from None


class GenerateForm(forms.Form):
    scene = forms.ChoiceField(choices=_choices(presets.SCENES), initial="selfie")
    environment = forms.ChoiceField(choices=_choices(presets.ENVIRONMENTS), initial="bedroom")
    outfit = forms.CharField(
        max_length=presets.OUTFIT_MAX_LENGTH,
        required=False,
        help_text="A preset or your own words, e.g. “white linen shirt”.",
        widget=forms.TextInput(attrs={"list": "outfit-presets", "autocomplete": "off"}),
    )
    aspect_ratio = forms.ChoiceField(
        choices=AspectRatio.choices,
        initial=AspectRatio.STORY,
        widget=forms.RadioSelect,
    )
    quality_mode = forms.ChoiceField(
        choices=QualityMode.choices,
        initial=QualityMode.DRAFT,
        widget=forms.RadioSelect,
    )
    count = forms.IntegerField(min_value=1, max_value=10, initial=4, label="How many")
    nsfw = forms.BooleanField(required=False, label="NSFW")
    details = forms.CharField(
        max_length=presets.DETAILS_MAX_LENGTH,
        required=False,
        help_text="Optional: added to the prompt, e.g. “holding a coffee cup, golden hour”.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    seed = forms.IntegerField(
        min_value=0,
        max_value=MAX_SEED,
        required=False,
        help_text="Blank: a new random seed for each image.",
    )

    # What the studio remembers per character between visits (not the seed: a reused
    # seed is for one generation).
    REMEMBERED = (
        "scene",
        "environment",
        "outfit",
        "aspect_ratio",
        "quality_mode",
        "count",
        "nsfw",
        "details",
    )

    def __init__(self, *args, character, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.character = character
        if not character.nsfw_enabled:
            self.fields["nsfw"].disabled = True
            self.fields[
                "nsfw"
            ].help_text = (
                f"{character.name} does not allow NSFW images (change it in the character)."
            )

    def clean_outfit(self) -> str:
        return _plain_words(self.cleaned_data["outfit"])

    def clean_details(self) -> str:
        return _plain_words(self.cleaned_data["details"])

    def remembered(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.REMEMBERED}

    def options(self) -> GenerationOptions:
        data = self.cleaned_data
        return GenerationOptions(
            scene=data["scene"],
            environment=data["environment"],
            outfit=data["outfit"],
            aspect_ratio=data["aspect_ratio"],
            quality_mode=data["quality_mode"],
            count=data["count"],
            nsfw=bool(data["nsfw"]),
            details=data["details"],
            seed=data["seed"],
        )


class GalleryFilterForm(forms.Form):
    scene = forms.ChoiceField(
        choices=[("", "All scenes"), *_choices(presets.SCENES)], required=False
    )
    environment = forms.ChoiceField(
        choices=[("", "All environments"), *_choices(presets.ENVIRONMENTS)], required=False
    )
    edited = forms.ChoiceField(
        choices=[("", "Edited or not"), ("yes", "Edited only"), ("no", "Originals only")],
        required=False,
    )
    favourites = forms.BooleanField(required=False, label="Favourites only")
    cursor = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        edited = {"yes": True, "no": False}.get(data.get("edited", ""))
        return {
            "scene": data.get("scene") or None,
            "environment": data.get("environment") or None,
            "edited": edited,
            "favourites": bool(data.get("favourites")),
        }

    def is_filtering(self) -> bool:
        return any(value not in (None, False) for value in self.filters().values())
