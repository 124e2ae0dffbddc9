# One image for every Locus service. The default command runs the mobility-manager;
# docker-compose.yml picks the entrypoint per service:
#   node dist/apps/mobility-manager/src/main.js   command side (migrates the DB on start)
#   node dist/apps/hypervisor-agent/src/main.js   agents named in LOCUS_HYPERVISORS
#   node dist/apps/console/src/main.js            the web console (LOCUS_CONSOLE_PORT)
#   node dist/apps/lab/src/main.js                everything in one process

# --- build: all dependencies, compile to dist/, then drop the dev dependencies ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first, so the npm ci layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: compiled code, production dependencies, lab topology; non-root ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Files stay root-owned (read-only to the service); the process runs as `node` (uid 1000).
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# LOCUS_TOPOLOGY (default topologies/default.yaml) is resolved from the working directory.
COPY --from=build /app/topologies ./topologies
# GoBGP's API definitions, loaded at run time by the route injector (tsc does not copy .proto files).
COPY --from=build /app/apps/route-injector/proto ./apps/route-injector/proto
# The web console's page (served as files by apps/console, not compiled).
COPY --from=build /app/apps/console/web ./apps/console/web
USER node
CMD ["node", "dist/apps/mobility-manager/src/main.js"]
