from __future__ import annotations

from django import forms

from gallery.models import Character


class CharacterForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["name", "appearance", "nsfw_enabled", "lora_name", "lora_strength"]
        widgets = {"appearance": forms.Textarea(attrs={"rows": 4})}

    def clean_lora_name(self) -> str:
        value = self.cleaned_data["lora_name"].strip()
        if ".." in value or value.startswith("/"):
            raise forms.ValidationError("Must be a file name inside ComfyUI's loras folder.")
        return value
