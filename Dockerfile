# SalesFlow GraphQL gateway (also the worker image: override the command).
#
# Build stage: uv installs the locked dependencies, with the `otel` extra (the image
# can trace), then the project itself (not editable), into /app/.venv. Run stage:
# that virtualenv and nothing else; the installed console script runs directly
# (no uv at run time), as a system user without a home, and nothing but
# /app/exports (a volume) and /tmp need to be writable, so the root filesystem
# may be read-only (docker-compose.yml).
# tests/test_container.py makes the install as this file does and runs CMD, the
# HEALTHCHECK and the compose worker's commands as an unprivileged user.
FROM python:3.11-slim AS build
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra otel --no-install-project
COPY salesflow_graphql ./salesflow_graphql
RUN uv sync --frozen --no-dev --extra otel --no-editable

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH \
    SALESFLOW_HOST=0.0.0.0 SALESFLOW_PORT=8000 SALESFLOW_EXPORTS_DIR=/app/exports
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin salesflow \
    && mkdir -p /app/exports && chown salesflow /app/exports
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
USER salesflow
EXPOSE 8000
HEALTHCHECK CMD ["salesflow-graphql", "serve", "--check"]
CMD ["salesflow-graphql", "serve"]
