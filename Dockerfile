# syntax=docker/dockerfile:1

# Build: compile TypeScript (src/ and migrations/) into dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# Runtime: production dependencies and the compiled output only. No secret is baked in:
# MASTER_KEY, DATABASE_URL and the rest come from the environment at run time.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Pages and their assets are read at start from views/, next to package.json.
COPY --from=build /app/views ./views
# The embedded database (used when DATABASE_URL is unset) lives here; it must be writable.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# Liveness only: a database outage shows in /health/ready, and must not get the container killed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM stops the server cleanly (open requests finish); SIGUSR2 restarts the workers in turn.
STOPSIGNAL SIGTERM
# The V8 heap settings of src/cluster/heap-flags.ts (docs/performance.md, "Memory").
CMD ["node", "--heap-growing-percent=50", "--max-semi-space-size=8", "dist/src/main.js"]
