# coreflow agent image. Run it on a swarm manager with /var/run/docker.sock mounted (see readme.md).
FROM node:20-bookworm-slim
ENV NODE_ENV=production COREFLOW_STATE_DIR=/var/lib/coreflow
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY ts ./ts
COPY examples ./examples
COPY docs ./docs
VOLUME /var/lib/coreflow
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+(process.env.COREFLOW_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/coreflow.js"]
CMD ["agent"]
