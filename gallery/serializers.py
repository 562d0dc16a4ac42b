"""JSON shapes of gallery data (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from gallery.models import Character


class CharacterOut(serializers.ModelSerializer):
    nsfwEnabled = serializers.BooleanField(source="nsfw_enabled")
    loraName = serializers.CharField(source="lora_name")
    loraStrength = serializers.FloatField(source="lora_strength")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Character
        fields = [
            "id",
            "name",
            "appearance",
            "nsfwEnabled",
            "loraName",
            "loraStrength",
            "createdAt",
            "updatedAt",
        ]
        read_only_fields = fields


class CharacterIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    appearance = serializers.CharField(max_length=2000)
    nsfwEnabled = serializers.BooleanField(source="nsfw_enabled", required=False, default=False)
    loraName = serializers.RegexField(
        r"^[\w\-. /]*$",
        source="lora_name",
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Use letters, digits, '-', '_', '.', '/' and spaces only."},
    )
    loraStrength = serializers.FloatField(
        source="lora_strength", required=False, default=0.8, min_value=-2.0, max_value=2.0
    )

    def validate_loraName(self, value: str) -> str:
        if ".." in value or value.startswith("/"):
            raise serializers.ValidationError("Must be a file name inside ComfyUI's loras folder.")
        return value.strip()


class AuthTokenIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class AuthTokenOut(serializers.Serializer):
    token = serializers.CharField()
