# syntax=docker/dockerfile:1
# gserve on the official Node 24 slim image. Built and pushed by CI elsewhere (this repository's
# test machine has no Docker engine; test/integration/deploy-files.test.ts lints this file).
#
#   docker build -t gserve .
#   docker run --init -p 8000:8000 gserve                      # serves examples/hello
#   docker run --init -p 8000:8000 -v "$PWD:/app" gserve app:app
#
# Your own image:   FROM gserve
#                   COPY --chown=node:node . /app
#                   RUN npm ci --omit=dev
#                   CMD ["src/server:app"]
ARG NODE_VERSION=24

# ---- build: TypeScript needs the dev dependencies; the runtime image never sees them ----------
FROM node:${NODE_VERSION}-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npm run build

# ---- runtime ----------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/gserve
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY examples/hello ./examples/hello
ENV PATH=/opt/gserve/bin:$PATH

# Container defaults, each overridable with -e or a flag: listen on all addresses of the
# container, one worker per CPU the container may use (cgroup quota), a health path for probes.
ENV PORT=8000 \
    GSERVE_WORKERS=auto \
    GSERVE_HEALTH_PATH=/healthz
EXPOSE 8000

# The app lives in /app, owned by the unprivileged `node` user of the official image.
WORKDIR /app
USER node

# gserve handles TERM (graceful stop) and INT (fast stop) itself, also as PID 1. Run it under an
# init anyway (`docker run --init`, `init: true` in compose) when the app starts subprocesses:
# only an init reaps orphaned grandchildren. Kubernetes: see docs/deployment.md.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + (process.env.GSERVE_HEALTH_PATH || '/healthz')).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["gserve"]
CMD ["/opt/gserve/examples/hello/app:app"]
