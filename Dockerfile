# The gridmarket suite in one image: the six services and the dashboard's server.
# One container runs one of them: `gridmarket serve <name>` (see docker-compose.yml).

# -- 1. The dashboard, built with Node.js; only frontend/dist is kept ------------------------
FROM node:20-bookworm-slim AS dashboard
WORKDIR /frontend
# The dependencies first: this layer is rebuilt only when the lock file changes.
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# -- 2. The suite on Python, run as a user without privileges --------------------------------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --user-group --create-home gridmarket

# pyproject.toml pins every dependency; the package is services/ (README.md is its readme).
COPY pyproject.toml README.md /tmp/gridmarket/
COPY services/ /tmp/gridmarket/services/
RUN pip install --no-cache-dir /tmp/gridmarket && rm -rf /tmp/gridmarket

# The built dashboard, read-only to the services' user.
COPY --from=dashboard /frontend/dist /opt/gridmarket/dashboard
# SQLite files go here when MONGODB_URI is unset (docker-compose.yml sets it).
RUN mkdir -p /var/lib/gridmarket && chown gridmarket:gridmarket /var/lib/gridmarket
ENV DASHBOARD_DIST_DIR=/opt/gridmarket/dashboard \
    GRIDMARKET_DATA_DIR=/var/lib/gridmarket

USER gridmarket
WORKDIR /var/lib/gridmarket
# dashboard, auth, manager, prosumer, market, simulation, weather
EXPOSE 8000-8006
ENTRYPOINT ["gridmarket"]
CMD ["--help"]
