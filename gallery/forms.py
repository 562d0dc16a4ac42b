from __future__ import annotations

from django import forms
from django.conf import settings

from gallery.models import Character, LoraFile


class CharacterForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["name", "appearance", "nsfw_enabled", "lora_name", "lora_strength"]
        widgets = {"appearance": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The LoRA files the backends offer (render workers report them): chosen, not typed.
        # Without a recent report the field stays a text box, so nothing blocks the creator.
        offered = list(
            LoraFile.objects.seen_within(settings.STUDIO_LORA_FRESH_SECONDS).values_list(
                "name", flat=True
            )
        )
        self.lora_choices = offered
        field = self.fields["lora_name"]
        if offered:
            choices = [("", "No LoRA"), *((name, name) for name in offered)]
            current = self.instance.lora_name if self.instance.pk else ""
            if current and current not in offered:
                choices.append((current, f"{current} (not on any backend now)"))
            field.widget = forms.Select(choices=choices)
            field.help_text = "The LoRA files your ComfyUI backends have."
        else:
            field.help_text = (
                "No render worker has reported its LoRA files lately: type the file name "
                "as it is in ComfyUI's loras folder."
            )

    def clean_lora_name(self) -> str:
        value = self.cleaned_data["lora_name"].strip()
        if ".." in value or value.startswith("/"):
            raise forms.ValidationError("Must be a file name inside ComfyUI's loras folder.")
        choices = self.fields["lora_name"].widget.choices if self.lora_choices else None
        if choices is not None and value not in {name for name, _ in choices}:
            raise forms.ValidationError("Choose one of the LoRA files the backends have.")
        return value
