"""gunicorn settings for the console (read from the working directory: the Docker image and bench/load.py use it).

Sync workers, 2 × cores + 1 of them (WEB_CONCURRENCY overrides): a console request is short CPU work plus a few
database round trips, so a process per request in flight keeps every core busy without threads contending for one
interpreter lock; the reverse proxy in front buffers slow clients. docs/benchmarks.md § Load has the comparison.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", 1))
timeout = 60
max_requests = 5000  # recycle a worker now and then: no slow leak lives for days
max_requests_jitter = 500
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "true").lower() == "true" else None
# the access log carries no personal data: searches by phone or ID number are GETs, so every atom of this format
# (request line, query string, path, referer, user agent) is redacted by piaogen.logs before it is applied
logger_class = "piaogen.logs.GunicornLogger"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
