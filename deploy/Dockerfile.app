# The Python 3.11 services, one image: the hub (`python -m handoff`), the action server
# (`python -m actions.server`), the model watcher (`scripts/model_watch.py`) and the knowledge-base index
# build (`python -m kb_index build`). Build from the repository root:
#   docker build -f deploy/Dockerfile.app -t storefront-assist-app .
# The virtualenv sits at /app/.venv, where the Procfile expects it, so the commands are the Procfile's.

# -- the virtualenv -------------------------------------------------------------------------------------
# Kept word for word the same as the `encoder` stage of Dockerfile.rasa, so BuildKit builds it once.
FROM python:3.11-slim-bookworm AS venv
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/app.txt requirements/app.lock requirements/
# torch comes from PyTorch's CPU index first: PyPI's Linux wheel pulls in several GB of CUDA libraries.
# app.txt pins torch==X, which the installed X+cpu satisfies, so the second install keeps it. Like
# scripts/make_venv.sh, app.txt is installed with app.lock as constraints, without the test and tooling
# part of app.txt (the build stops if that section's heading is gone).
RUN grep -q '^# test and tooling' requirements/app.txt \
    && sed '/^# test and tooling/,$d' requirements/app.txt > /tmp/runtime.txt \
    && torch_version=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements/app.txt) \
    && test -n "$torch_version" \
    && python -m venv /app/.venv \
    && /app/.venv/bin/pip install --no-deps --index-url https://download.pytorch.org/whl/cpu \
        "torch==${torch_version}+cpu" \
    && /app/.venv/bin/pip install -r /tmp/runtime.txt -c requirements/app.lock \
    && /app/.venv/bin/pip check

# -- the runtime ----------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="Storefront Assist: hub, action server, model watcher, index build" \
      org.opencontainers.image.licenses="Apache-2.0"
# The same uid in both images: the jobs write the shared volumes that the services read.
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RASA_TELEMETRY_ENABLED=false \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HUB_HOST=0.0.0.0 \
    ACTIONS_HOST=0.0.0.0
WORKDIR /app
COPY --from=venv /app/.venv /app/.venv
COPY common common/
COPY kb_index kb_index/
COPY handoff handoff/
COPY actions actions/
COPY data data/
COPY scripts/model_watch.py scripts/
COPY deploy/healthcheck.py deploy/
# What the services write: named volumes start as a copy of these directories, owner included.
RUN mkdir -p var/kb_index var/attachments var/orders models \
    && chown app:app var/kb_index var/attachments var/orders models \
    && chmod 700 var/attachments var/orders
USER 10001:10001
EXPOSE 8000 5055
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/app/.venv/bin/python", "/app/deploy/healthcheck.py"]
CMD [".venv/bin/python", "-m", "handoff"]
