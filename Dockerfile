# syntax=docker/dockerfile:1
# The Doppel image: the workbench (default command) and the Dramatiq workers (same image,
# another command). See infra/deploy/README.md for the whole stack.
#
#   docker build -t doppel:0.1.0 .                    # CPU build of torch: app and CPU workers
#   docker build -t doppel:0.1.0-gpu \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # GPU workers
#
#   docker run -p 8501:8501 doppel:0.1.0              # the workbench (python -m app)
#   docker run doppel:0.1.0 dramatiq workers.tasks -Q cpu
FROM python:3.11-slim

# torch comes from PyTorch's own wheel index: the CPU index by default, so that the CPU image
# does not carry the CUDA libraries (several GB); the GPU image passes a CUDA index instead.
# The range is pyproject.toml's.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch>=2.3,<2.15"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    HOME=/var/lib/doppel \
    DOPPEL_DATA_DIR=/var/lib/doppel \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501

WORKDIR /app

RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

# The other dependencies, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code: engine/, infra/, workers/, auth/, app/, pages/ and streamlit_config/ (whose
# secrets.toml, like tests and local state, .dockerignore keeps out). The launcher finds
# streamlit_config/ and pages/ beside app/, so the image runs from /app (PYTHONPATH=/app);
# `pip install .` only adds the package metadata.
COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --gid 0 --home-dir /var/lib/doppel --shell /usr/sbin/nologin doppel \
    && mkdir -p /var/lib/doppel \
    && chown -R 10001:0 /var/lib/doppel \
    && chmod -R g=u /var/lib/doppel

# Non-root; numeric so that Kubernetes' runAsNonRoot can check it.
USER 10001
VOLUME ["/var/lib/doppel"]
EXPOSE 8501

CMD ["python", "-m", "app"]
