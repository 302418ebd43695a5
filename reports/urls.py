"""Reports URLs: console pages (included at the site root) and API endpoints (under /api/v1/)."""

from django.urls import URLPattern, URLResolver

api_urlpatterns: list[URLPattern | URLResolver] = []

urlpatterns: list[URLPattern | URLResolver] = []
