# One image per service: docker build --build-arg SERVICE=sender -t chime/sender .
# SERVICE is one of ingest, scheduler, sender, api.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG UV_VERSION=0.13.9
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<service>" >&2; exit 1)
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# Use the image's interpreter (the runtime stage has the same one at the same path), copy
# files rather than link them out of a cache, keep no cache, and compile bytecode now:
# the root filesystem is read-only at run time.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1
WORKDIR /app
# uv reads every workspace member's pyproject.toml; only the service's own dependency
# closure is installed.
COPY pyproject.toml uv.lock ./
COPY contracts contracts
COPY libs libs
COPY services services
COPY tools tools
# Non-editable: the workspace packages are installed into .venv, which alone is shipped.
RUN uv sync --frozen --no-dev --no-editable --package "chime-${SERVICE}"

FROM ${PYTHON_IMAGE}
ARG SERVICE
RUN groupadd --system --gid 10001 chime \
    && useradd --system --uid 10001 --gid chime --no-create-home --shell /usr/sbin/nologin chime
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHIME_SERVICE=${SERVICE}
WORKDIR /app
USER 10001:10001
EXPOSE 8000
CMD ["sh", "-c", "exec python -m \"chime_${CHIME_SERVICE}\""]
