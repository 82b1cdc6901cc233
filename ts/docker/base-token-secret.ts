import { createHash } from 'node:crypto';
import type { WorkloadSecret } from './secret-content.ts';
import type { DockerSecretRef } from './service-model.ts';

/** The file the corestore base service reads its API token from: /run/secrets/corestore_api_token. */
export const CORESTORE_TOKEN_FILE = 'corestore_api_token';
const HASH_LENGTH = 12;

/**
 * Pure. The Docker secret holding the Corestore API token for the corestore base service:
 * `corestore_api_token-<hash>`, a new name for every new token (salted with the cluster, so the
 * name says nothing about the value). `content` is secret.
 */
export function corestoreTokenSecret(cluster: string, service: string, token: string): WorkloadSecret {
  const hash = createHash('sha256').update(`${cluster}\0${service}\0corestore-token\0${token}`).digest('hex').slice(0, HASH_LENGTH);
  return { name: `${CORESTORE_TOKEN_FILE}-${hash}`, service, hash, content: token };
}

/** The mount of the token secret: root-only (0400) at /run/secrets/corestore_api_token. */
export function tokenSecretRef(secret: Pick<WorkloadSecret, 'name'>): DockerSecretRef {
  return { SecretName: secret.name, File: { Name: CORESTORE_TOKEN_FILE, UID: '0', GID: '0', Mode: 0o400 } };
}
