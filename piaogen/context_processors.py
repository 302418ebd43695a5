from typing import Any

from django.conf import settings
from django.http import HttpRequest


def console(request: HttpRequest) -> dict[str, Any]:
    """What the base layout needs on every page: the environment banner."""
    return {"environment_banner": settings.ENVIRONMENT_BANNER, "piaogen_env": settings.PIAOGEN_ENV}
