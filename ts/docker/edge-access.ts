import { createHash } from 'node:crypto';
import type { WorkloadSecret } from './secret-content.ts';
import type { DockerServiceSpec } from './service-model.ts';

/**
 * What the coretraffic base service is given to receive routes from this agent: the agent's
 * /v1/edge URL (COREFLOW_EDGE_URL in its environment), a network to reach the agent on, and the
 * edge token, as a Docker secret file (never an environment value).
 */
export interface EdgeAccess {
  /** e.g. ws://coreflow_agent:3000/v1/edge */
  url?: string;
  /** A network the agent is on that coretraffic joins as well (the agent's own stack network). */
  network?: string;
  /** The edge token; the model only ever passes it on as a secret's content. */
  token?: string;
}

/** The file coretraffic reads the token from: /run/secrets/coreflow_edge_token. */
export const EDGE_TOKEN_FILE = 'coreflow_edge_token';
const NAME_HASH_LENGTH = 12;

/**
 * Pure. The Docker secret of the edge token for `service`: `<service>-edge-token-<hash>`, a new
 * name for every new token (Docker secrets are immutable), rotated and pruned like the workload
 * secrets. The hash is salted with cluster and service and never shows the token.
 */
export function edgeTokenSecret(cluster: string, service: string, token: string): WorkloadSecret {
  const hash = createHash('sha256').update(`${cluster}\0${service}\0edge-token\0${token}`).digest('hex').slice(0, NAME_HASH_LENGTH);
  const suffix = `-edge-token-${hash}`;
  return { name: `${service.slice(0, 64 - suffix.length).replace(/[-_.]+$/, '')}${suffix}`, service, hash, content: token };
}

/** Pure. The coretraffic service spec with the edge URL, the agent's network and the token file added. */
export function withEdgeAccess(spec: DockerServiceSpec, access: EdgeAccess, secret: WorkloadSecret | undefined): DockerServiceSpec {
  const c = spec.TaskTemplate.ContainerSpec;
  const env = [...(c.Env ?? [])];
  if (access.url) env.push(`COREFLOW_EDGE_URL=${access.url}`);
  if (secret) env.push(`COREFLOW_EDGE_TOKEN_FILE=/run/secrets/${EDGE_TOKEN_FILE}`);
  const networks = spec.TaskTemplate.Networks ?? [];
  return {
    ...spec,
    TaskTemplate: {
      ...spec.TaskTemplate,
      ContainerSpec: {
        ...c,
        Env: env,
        ...(secret ? { Secrets: [...(c.Secrets ?? []), { SecretName: secret.name, File: { Name: EDGE_TOKEN_FILE, UID: '0', GID: '0', Mode: 0o444 } }] } : {}),
      },
      ...(access.network && !networks.some((n) => n.Target === access.network) ? { Networks: [...networks, { Target: access.network }] } : {}),
    },
  };
}
