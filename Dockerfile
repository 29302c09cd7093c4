# source-ingest as a background container: corpus and SQLite index on the /data volume.
#   docker build -t source-ingest .
#   docker run -d -v ingest-data:/data -p 8080:8080 \
#     -e SOURCE_INGEST_HTTP_TOKEN=change-me source-ingest
# Configuration: the file SOURCE_INGEST_CONFIG names (mount your own over it), with the
# SOURCE_INGEST_* variables below winning over its [storage] keys; `run` logs which setting
# came from where at start (event "settings_sources").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ingest \
    && mkdir -p /data \
    && chown ingest:ingest /data

WORKDIR /app
# The dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml
# changes, not at every change of the source (empty package folders stand in for it).
COPY pyproject.toml README.md ./
RUN mkdir -p ingest scheduler storage config \
    && python -m pip install ".[postgres]" \
    && python -m pip uninstall --yes source-ingest
COPY ingest ./ingest
COPY scheduler ./scheduler
COPY storage ./storage
COPY config ./config
RUN python -m pip install --no-deps ".[postgres]"

ENV SOURCE_INGEST_CONFIG=/app/config/source-ingest.toml \
    SOURCE_INGEST_CORPUS_DIR=/data/seeds \
    SOURCE_INGEST_DATABASE_URL=sqlite:////data/index.sqlite3

VOLUME ["/data"]
USER ingest
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)" || exit 1

CMD ["source-ingest", "run", "--http", "0.0.0.0:8080"]
