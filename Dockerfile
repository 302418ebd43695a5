# Production-like image for docker-compose.yml (web under gunicorn, Celery worker and beat).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei libharfbuzz-subset0 libpango-1.0-0 \
      libpangoft2-1.0-0 gettext chromium curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY piaogen piaogen
COPY tolling tolling
COPY invoicing invoicing
COPY support support
COPY reports reports
RUN pip install --no-cache-dir -e .
COPY . .
RUN python manage.py compilemessages --ignore=.venv \
 && SECRET_KEY=build PIAOGEN_ENV=development python manage.py collectstatic --noinput \
 && useradd --system --home /app piaogen && mkdir -p /app/var && chown -R piaogen /app/var
USER piaogen
EXPOSE 8000
# workers, timeout and logs: gunicorn.conf.py
CMD ["gunicorn", "piaogen.wsgi"]
