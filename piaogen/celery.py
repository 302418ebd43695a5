"""The Celery app: one queue per kind of work, settings read from Django's (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "piaogen.settings")

app = Celery("piaogen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
