# avatarbot as a container: `avatarbot run` as a non-root user, data in the /data volume.
#   docker build -t avatarbot .
#   docker run --env-file .env -p 8080:8080 -v avatarbot-data:/data avatarbot

# The build stage checks every wheel of the runtime lock against its hash and installs them into
# /venv (the dev tools have a lock of their own, requirements-dev.lock).
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements.lock ./
# setuptools is only the build backend of the bot's own package (pyproject's build-system).
RUN pip download --require-hashes --no-deps --only-binary=:all: --dest /wheels -r requirements.lock \
 && pip download --no-deps --only-binary=:all: --dest /wheels "setuptools>=68"

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY adapters ./adapters
COPY migrations ./migrations
# Editable, so that migrations/ is found beside the code; every dependency comes from /wheels.
RUN python -m venv /venv \
 && /venv/bin/pip install --no-index --find-links /wheels --editable .


FROM python:3.11.14-slim-bookworm

RUN groupadd --system --gid 10001 avatarbot \
 && useradd --system --uid 10001 --gid avatarbot --home-dir /app --no-create-home avatarbot \
 && mkdir /data \
 && chown avatarbot:avatarbot /data

COPY --from=build /venv /venv
COPY --from=build /app /app

ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/avatarbot.db \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080 \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9464 \
    LOG_FORMAT=json

WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
# 8080: web chat and /healthz; 9464: Prometheus /metrics (keep it off the public network).
EXPOSE 8080 9464

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=4)"]

# On SIGTERM the bot stops taking messages and gives answers in flight SHUTDOWN_GRACE_SECONDS
# (20 s): stop it with a longer timeout than Docker's 10 s (`docker stop -t 30`).
CMD ["avatarbot", "run"]
