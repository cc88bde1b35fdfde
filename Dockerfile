# Portcullis image: `docker build -t portcullis .`
# Same steps as .ci/run (npm ci builds the native addon, then tsc), on Node 24 LTS and Debian 13
# trixie (glibc 2.41): uWebSockets.js 20.57's binary needs glibc 2.38 and loads as shipped here, so
# npm install writes no patched copy (native/uws-glibc.cjs does that only on older glibc).

# ---- build stage: toolchain, dev dependencies, native addon, TypeScript ----
FROM node:24-trixie AS build
# Native compression: libdeflate is linked statically (the runtime needs nothing), zstd statically
# when the distribution's libzstd.a is position-independent, else dynamically against libzstd1,
# which the slim runtime image already ships (dpkg depends on it). native/detect-libs.cjs decides.
RUN apt-get update && apt-get install -y --no-install-recommends libdeflate-dev libzstd-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
# npm install falls back to the TypeScript twins when the addon does not compile; the image is
# meant to ship the native path, so a failed compile fails the build here.
RUN npm ci --no-audit --no-fund && test -f build/Release/portcullis.node
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build:ts && npm prune --omit=dev
# What the runtime needs of build/: the addon, and uWS's patched copies only if npm install wrote
# any (never on this glibc; a base image with glibc < 2.38 would need them).
RUN mkdir -p /out/build/Release && cp build/Release/portcullis.node /out/build/Release/ \
  && if [ -d build/uws ]; then cp -r build/uws /out/build/uws; fi

# ---- runtime stage: slim, non-root ----
FROM node:24-trixie-slim
ENV NODE_ENV=production \
    PORTCULLIS_WORKERS=0 \
    PORTCULLIS_LOG_LEVEL=info
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/uws-glibc.cjs ./native/uws-glibc.cjs
COPY --from=build /out/build ./build
COPY config ./config
COPY schema ./schema
COPY docker/portcullis.yaml /etc/portcullis/portcullis.yaml
USER node
EXPOSE 8080
# The admin API's /status: 200 while serving, 503 while draining (admin.listen, default
# 127.0.0.1:9901 inside the container). PORTCULLIS_ADMIN_TOKEN is sent when admin.token is set.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const t = process.env.PORTCULLIS_ADMIN_TOKEN; fetch(process.env.PORTCULLIS_ADMIN_URL || 'http://127.0.0.1:9901/status', { headers: t ? { authorization: 'Bearer ' + t } : {} }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run", "-c", "/etc/portcullis/portcullis.yaml"]
