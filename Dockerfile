# syntax=docker/dockerfile:1
# matrix-auth-gateway: a build stage with the toolchain, then a slim runtime with production dependencies only.
#
#   docker build -t matrix-auth-gateway .
#   docker run -v ./gateway.yaml:/etc/matrix-auth-gateway/gateway.yaml:ro -v mag-data:/var/lib/matrix-auth-gateway \
#     -p 127.0.0.1:8080:8080 matrix-auth-gateway
#
# The runtime stage installs the package exactly as an operator would from `npm pack`: the packed tarball,
# unpacked, with the lockfile's production dependencies. test/operations/package.test.ts runs the same RUN
# commands in a temporary directory (no container engine is needed for that).

# --- build: compile TypeScript and pack the package ---------------------------------------------------------------
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No dependency has an install script (better-sqlite3 ships prebuilt binaries); --ignore-scripts also skips our own
# `prepare`, which would build before the sources are here.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json LICENSE README.md CHANGELOG.md ./
COPY scripts/build.mjs scripts/
COPY src src
COPY config/gateway.example.yaml config/
RUN npm pack --pack-destination /tmp && mv /tmp/matrix-auth-gateway-*.tgz /tmp/matrix-auth-gateway.tgz

# --- runtime ------------------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /tmp/matrix-auth-gateway.tgz ./
COPY package-lock.json ./
RUN --mount=type=cache,target=/root/.npm tar -xzf matrix-auth-gateway.tgz --strip-components=1 && rm matrix-auth-gateway.tgz && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY examples/gateway.docker.yaml /etc/matrix-auth-gateway/gateway.yaml
# The image's `node` user (uid 1000) runs the gateway; it owns only the data directory.
RUN mkdir -p /var/lib/matrix-auth-gateway && chown node:node /var/lib/matrix-auth-gateway
USER node
# Configuration (read-only is fine) and data: the sqlite store and a generated JWT secret.
VOLUME ["/etc/matrix-auth-gateway", "/var/lib/matrix-auth-gateway"]
EXPOSE 8080
# GET /health with Node itself (no curl in a slim image). HEALTHCHECK_URL follows a changed listen.port.
ENV HEALTHCHECK_URL=http://127.0.0.1:8080/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["--config", "/etc/matrix-auth-gateway/gateway.yaml"]
