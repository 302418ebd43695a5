"""The test run's settings: the project's own, with Celery queues and cache keys of the run's own.

Test runs share one Redis (bin/test points every run at database 9): a run's tasks go to queues named after
PIAOGEN_QUEUE_PREFIX (bin/test sets ``test<pid>-``), and under pytest-xdist each worker adds its id
(``test<pid>-gw0-``), so a worker's Celery processes never take another worker's or another run's tasks. Cache keys
carry the same prefix: a throttle counter, a cached dashboard or the worker heartbeat of one worker is never read by
another. The Celery processes a test starts inherit the environment, and with it these settings.
"""

import os

_prefix = os.environ.get("PIAOGEN_QUEUE_PREFIX") or f"test{os.getpid()}-"
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and not _prefix.endswith(f"-{_worker}-"):  # a Celery process started by a worker is already prefixed
    _prefix = f"{_prefix}{_worker}-"
os.environ["PIAOGEN_QUEUE_PREFIX"] = _prefix

from piaogen.settings import *  # noqa: E402, F403
from piaogen.settings import CACHES  # noqa: E402

CACHES["default"]["KEY_PREFIX"] = f"piaogen-{_prefix}"
# a fast hasher for every user a test makes, those of worlds built outside a test too (tests/fixtures/shared.py)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
