# syntax=docker/dockerfile:1
# Build: compile TypeScript and bundle the board with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY handlers ./handlers
COPY jobs ./jobs
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

# Run: only the compiled code and production dependencies, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/handlers ./dist/handlers
COPY --from=build /app/dist/jobs ./dist/jobs
COPY --from=build /app/dist/migrations ./dist/migrations
COPY --from=build /app/dist/board ./dist/board
# src/mcp/server.ts reads its version from the package.json tsc copies beside the compiled code.
COPY --from=build /app/dist/package.json ./dist/package.json
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["all"]
