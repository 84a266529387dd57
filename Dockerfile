# syntax=docker/dockerfile:1
# The production image: the server built to plain JavaScript (`npm run build`), its production dependencies only,
# run by `node` as the unprivileged `node` user.
#
#   docker build -t mtchat .
#   docker run -p 8080:8080 -v mtchat-data:/data -e ADMIN_API_TOKEN=… -e JWT_SECRET=… mtchat
#
# With no DATABASE_URL the embedded PostgreSQL keeps its data in the /data volume; docker-compose.prod.yml runs the
# image with PostgreSQL, Redis and MinIO, and deploy/helm/mtchat on Kubernetes. deploy/test/dockerfile.test.ts checks
# this file and performs the final stage's steps without Docker.

# The build stage has the dev dependencies (TypeScript, Vite, rolldown) and builds everything the image ships, and
# the SDK packages and the script-tag widget, so that an image never comes from a tree whose SDK does not build.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
# The widget before the server: `npm run build` copies sdk/widget/dist (and any other built asset the server
# serves) into dist/server. The /demo page is not built: it never runs with NODE_ENV=production.
RUN npm run sdk:build \
 && npm run widget:build \
 && npm run build

FROM node:22-bookworm-slim
# tini as PID 1 reaps orphans (the embedded PostgreSQL's, for one) and passes SIGTERM on, so `docker stop` drains:
# sockets closed with 1001, documents stored, then exit 0.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
# dist/server holds main.js, the assets it reads (migrations/*.sql, sdk/widget/dist), package.json, the lockfile and
# the workspaces' manifests, which npm ci needs to accept the lockfile.
COPY --from=build /src/dist/server/ ./
# Only what the server imports: the sync-server workspace's dependencies, no dev dependencies, no SDK packages.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --workspace=@mtchat/sync-server --no-audit --no-fund \
 && mkdir -p /data \
 && chown node:node /data
USER node
# Local files (attachments, the file-link secret) and, without DATABASE_URL, the embedded PostgreSQL.
VOLUME /data
EXPOSE 8080
# /health/ready: 200 once PostgreSQL answers and every migration is applied (slim images have no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# Stack traces name the TypeScript sources (main.js.map ships beside main.js).
CMD ["node", "--enable-source-maps", "main.js"]
