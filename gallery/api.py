"""Character endpoints and the token endpoint: input serializer → service → output serializer."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from gallery import services
from gallery.models import Character
from gallery.serializers import AuthTokenIn, AuthTokenOut, CharacterIn, CharacterOut


def _get_character_for_user(request: Request, character_id) -> Character:
    return get_object_or_404(Character.objects.visible_to(request.user), pk=character_id)


class AuthTokenApi(APIView):
    """POST trades a password for the user's token; DELETE revokes it (every client that
    holds it is logged out; the next POST makes a new one)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    def _asking(self) -> bool:
        request = getattr(self, "request", None)  # None while the schema is generated
        return request is not None and request.method == "POST"

    def get_authenticators(self):
        # Asking for a token needs no credentials but the password: a stale token or a
        # browser session sent along must not get in the way (nor need a CSRF token).
        return [] if self._asking() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._asking() else super().get_permissions()

    @extend_schema(
        request=AuthTokenIn,
        responses={200: AuthTokenOut},
        summary="Exchange a username and password for an API token",
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = AuthTokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise AuthenticationFailed("Unknown username or wrong password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response(AuthTokenOut({"token": token.key}).data)

    @extend_schema(request=None, responses={204: None}, summary="Revoke your API token")
    def delete(self, request: Request) -> Response:
        services.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CharacterListCreateApi(APIView):
    @extend_schema(responses={200: CharacterOut(many=True)}, summary="Your characters")
    def get(self, request: Request) -> Response:
        characters = Character.objects.visible_to(request.user).order_by("name", "created_at")
        return Response(CharacterOut(characters, many=True).data)

    @extend_schema(request=CharacterIn, responses={201: CharacterOut}, summary="Create a character")
    def post(self, request: Request) -> Response:
        data = CharacterIn(data=request.data)
        data.is_valid(raise_exception=True)
        character = services.character_create(owner=request.user, **data.validated_data)
        return Response(CharacterOut(character).data, status=status.HTTP_201_CREATED)


class CharacterDetailApi(APIView):
    @extend_schema(responses={200: CharacterOut}, summary="One of your characters")
    def get(self, request: Request, character_id) -> Response:
        return Response(CharacterOut(_get_character_for_user(request, character_id)).data)

    @extend_schema(
        request=CharacterIn(partial=True),
        responses={200: CharacterOut},
        summary="Change a character",
    )
    def patch(self, request: Request, character_id) -> Response:
        character = _get_character_for_user(request, character_id)
        data = CharacterIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        character = services.character_update(character=character, **data.validated_data)
        return Response(CharacterOut(character).data)

    @extend_schema(responses={204: None}, summary="Delete a character and all its images")
    def delete(self, request: Request, character_id) -> Response:
        services.character_delete(character=_get_character_for_user(request, character_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
