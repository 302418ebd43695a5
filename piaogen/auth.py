"""API token authentication: `Authorization: Bearer <key>` (what generated OpenAPI clients send) or
`Authorization: Token <key>` (the older form, still accepted), looked up by its SHA-256."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from piaogen.models import ApiToken, User

KEYWORDS = (b"bearer", b"token")


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in KEYWORDS:
            return None  # not ours: session authentication may still answer
        if len(words) != 2:
            raise exceptions.AuthenticationFailed(_("令牌格式应为“Bearer <令牌>”。"))
        try:
            key = words[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("令牌无效或已吊销。")) from None
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        token = ApiToken.objects.active().select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("令牌无效或已吊销。"))
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The schema's security scheme: HTTP bearer, which generated clients send by default."""

    target_class = "piaogen.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "API token of a system account (`create_staff … --api-token`): `Authorization: Bearer <token>`; "
                "`Authorization: Token <token>` is accepted as well."
            ),
        }


class ApiTokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (``PIAOGEN_API_RATE``, default ``1200/min``): 429 with ``Retry-After`` beyond it.
    Console sessions are not counted."""

    scope = "api_token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = request.auth
        if not isinstance(token, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}
