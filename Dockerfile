FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GPTSTORE_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
# Every package [tool.setuptools.packages.find] ships (tests/core/test_packaging.py checks the two agree).
COPY core ./core
COPY builder ./builder
COPY store ./store
COPY retrieval ./retrieval
COPY migrations ./migrations
COPY web ./web
COPY tools ./tools
COPY orgs ./orgs
RUN pip install --no-cache-dir . && useradd --create-home gptstore && mkdir -p /data && chown gptstore /data
USER gptstore
EXPOSE 8000
CMD ["gptstore", "serve", "--host", "0.0.0.0", "--port", "8000"]
