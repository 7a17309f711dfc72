# SalesFlow GraphQL gateway (also the arq worker image: override the command).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY salesflow_graphql ./salesflow_graphql
COPY schema.graphql ./
RUN uv sync --frozen --no-dev && mkdir -p /app/exports && useradd --system salesflow && chown salesflow /app/exports
USER salesflow
ENV SALESFLOW_HOST=0.0.0.0 SALESFLOW_PORT=8000
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["uv", "run", "--no-dev", "salesflow-graphql", "serve"]
