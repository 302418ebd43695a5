# The two commands: `make run` (the console with everything it needs) and `make test` (the whole suite).
.PHONY: run test test-fast check lint format bench-data services stop

run:
	bin/run

test:
	bin/test

# the fast lane: no browser, no real Celery worker, no replica or pgbouncer of the test's own
test-fast:
	bin/test --fast

# Quality gates, as CI runs them before the tests.
check:
	bin/bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	eval "$$(bin/services start)" && .venv/bin/python manage.py makemigrations --check --dry-run

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

services:
	bin/services start

stop:
	bin/services stop
