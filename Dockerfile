# coreflow agent image. Run it on a swarm manager with /var/run/docker.sock mounted (see readme.md).
#   docker build -t coreflow .                       (needs network for npm ci; on an engine without
#                                                     the default bridge add --network host)
# Where no registry can be reached, build the base image from Debian packages and npm first:
#   docker build --network host --build-arg BASE_IMAGE="$(bash scripts/base-image.sh)" -t coreflow .
ARG BASE_IMAGE=node:22-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Where TLS to the npm registry passes a proxy with its own CA: --build-arg NPM_CA="$(cat ca.pem)"
# (PEM text; used by npm in this stage only, not part of the image).
ARG NPM_CA=""
RUN if [ -n "$NPM_CA" ]; then printf '%s\n' "$NPM_CA" >/tmp/npm-ca.pem && export NODE_EXTRA_CA_CERTS=/tmp/npm-ca.pem; fi \
  && npm ci --no-audit --no-fund --ignore-scripts
COPY scripts/build.mjs scripts/build-unused-module.cjs scripts/runtime-deps.mjs ./scripts/
COPY ts ./ts
# The compiled bundle (without source maps); of node_modules only what the bundle loads at run time
# (@push.rocks/qenv, where an env overlay exists, and its dependencies); the agent's state dir.
RUN npm run build && rm dist/*.map && node scripts/runtime-deps.mjs /runtime && mkdir -p /state

FROM ${BASE_IMAGE}
ENV NODE_ENV=production COREFLOW_STATE_DIR=/var/lib/coreflow
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
COPY --from=build /runtime/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build --chown=1000:1000 /state /var/lib/coreflow
# The `node` user (uid 1000) of the official image. It needs the Docker socket's group: run with
# `--group-add <gid of /var/run/docker.sock>` (docker run) or `--group <gid>` (docker service create).
USER 1000:1000
VOLUME /var/lib/coreflow
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.COREFLOW_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# V8 tuned for memory over speed: the agent's live heap is small (about 20 MB at 1,000 services),
# and with V8's defaults (16 MiB semi-spaces) tens of MB of garbage stay resident between collections.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--optimize-for-size", "bin/coreflow.js"]
CMD ["agent"]
