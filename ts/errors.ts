/**
 * The one error catalogue of coreflow. Every error the agent raises on purpose is a CoreflowError
 * with a stable code from this table; docs/errors.md documents every code (a test checks it).
 *
 * `terminal` errors come from bad input (a spec, a frame, a flag): retrying cannot fix them, so the
 * reconcile loop reports them once and waits for the input to change. Other errors are transient
 * (Docker or a peer unreachable) and are retried with backoff.
 */
export const errorCatalogue = {
  COREFLOW_ERR_SPEC_INVALID: { terminal: true, message: 'the desired state is invalid:\n{details}' },
  COREFLOW_ERR_SPEC_PARSE: { terminal: true, message: 'cannot parse {source}: {details}' },
  COREFLOW_ERR_SPEC_READ: { terminal: false, message: 'cannot read the spec file {path}: {details}' },
  COREFLOW_ERR_CONFIG_INVALID: { terminal: true, message: 'the configuration is invalid:\n{details}' },
  COREFLOW_ERR_DOCKER_UNREACHABLE: {
    terminal: false,
    message: 'cannot reach the Docker Engine at {endpoint}: {details}. Is dockerd running and the socket mounted (-v /var/run/docker.sock:/var/run/docker.sock)?',
  },
  COREFLOW_ERR_NOT_SWARM_MANAGER: {
    terminal: true,
    message: 'the Docker Engine at {endpoint} is not a swarm manager (swarm state: {state}). Run coreflow on a manager node, or make this node one with `docker swarm init` (new swarm) or `docker node promote <node>` (existing swarm).',
  },
  COREFLOW_ERR_DOCKER_API: { terminal: false, message: 'Docker API {operation} failed ({status}): {details}' },
  COREFLOW_ERR_NOT_OWNED: {
    terminal: true,
    message: '{kind} {name} exists but is not owned by coreflow cluster {cluster}; it is left alone',
  },
  COREFLOW_ERR_STEP_BLOCKED: { terminal: false, message: 'not run: {dependency} failed in this run' },
  COREFLOW_ERR_MASS_DELETION: {
    terminal: true,
    message: 'the desired state would remove {count} of {total} owned {kind}; nothing was removed. Confirm with --confirm-mass-deletion or guards.allowMassDeletion: true in the spec',
  },
  COREFLOW_ERR_RUN_TIMEOUT: { terminal: false, message: 'the run did not finish within {timeoutMs} ms' },
  COREFLOW_ERR_USAGE: { terminal: true, message: '{details}' },
  COREFLOW_ERR_PROTOCOL_FRAME: { terminal: true, message: 'rejected protocol frame: {details}' },
  COREFLOW_ERR_PROTOCOL_VERSION: { terminal: true, message: 'protocol version mismatch: this side speaks {ours}, the peer {theirs}' },
  COREFLOW_ERR_UNKNOWN_METHOD: { terminal: true, message: 'unknown method "{method}"' },
  COREFLOW_ERR_REQUEST_TIMEOUT: { terminal: false, message: '{method} got no answer within {timeoutMs} ms' },
  COREFLOW_ERR_PEER_CLOSED: { terminal: false, message: 'the connection closed before {method} was answered' },
  COREFLOW_ERR_REMOTE: { terminal: false, message: '{method} failed on the peer: {details}' },
  COREFLOW_ERR_AUTH: { terminal: true, message: 'the control plane rejected the machine token (JUMPCODE): {details}' },
  COREFLOW_ERR_UNAUTHENTICATED: { terminal: true, message: '{method} needs an authenticated connection: call getIdentityByToken first' },
  COREFLOW_ERR_NO_CERTIFICATE: { terminal: true, message: 'no certificate for {domain}' },
  COREFLOW_ERR_STATE_WRITE: { terminal: false, message: 'cannot write {path}: {details}' },
  COREFLOW_ERR_SECRET_MISSING: {
    terminal: false,
    message: 'secret {secret} of service {service} does not exist; see the secrets step of this run for why it was not created',
  },
  COREFLOW_ERR_REGISTRY_AUTH: {
    terminal: true,
    message: 'cannot pull {image}: registry {registry} {what} ({details}). Fix username/password of registries[id={registry}]',
  },
  COREFLOW_ERR_IMAGE_NOT_FOUND: { terminal: true, message: 'image {image} not found in registry {registry} ({details})' },
  COREFLOW_ERR_REGISTRY_UNREACHABLE: { terminal: false, message: 'cannot check {image} on registry {registry}: {details}' },
  COREFLOW_ERR_SERVICE_UNKNOWN: { terminal: true, message: 'no service {service} in the desired state' },
  COREFLOW_ERR_EDGE_UNAUTHORIZED: {
    terminal: true,
    message: 'edge connection refused: {details}. Edge proxies send Authorization: Bearer <COREFLOW_EDGE_TOKEN>',
  },
  COREFLOW_ERR_CERTIFICATE_INVALID: { terminal: true, message: 'the certificate for {domain} is unusable: {details}' },
  COREFLOW_ERR_CADDY_LOAD: {
    terminal: false,
    message: 'loading the route table into Caddy at {adminUrl} failed: {details}. Is Caddy running with its admin API reachable from the agent (admin.listen)?',
  },
  COREFLOW_ERR_DNS_CONFLICT: {
    terminal: true,
    message: '{name} has records coreflow did not make: {records}; they are left alone. Remove them to let coreflow publish the name, or stop publishing it (dns.exclude)',
  },
  COREFLOW_ERR_DNS_API: { terminal: false, message: 'Cloudflare API {operation} failed ({status}): {details}' },
  COREFLOW_ERR_DNS_NO_TOKEN: {
    terminal: true,
    message: 'the spec has a dns section but no Cloudflare API token is set: give --cloudflare-token, CLOUDFLARE_API_TOKEN or CLOUDFLARE_API_TOKEN_FILE',
  },
  COREFLOW_ERR_DNS_ZONE_NOT_FOUND: {
    terminal: true,
    message: 'zone {zone} (dns.zones) is not visible to the Cloudflare token: check the name, or give its id, and that the token has Zone:Read and DNS:Edit on it',
  },
  COREFLOW_ERR_DNS_LISTING_TRUNCATED: {
    terminal: false,
    message: 'zone {zone} has more than {max} DNS records ({pages} pages of {perPage}); listing stopped and nothing in the zone was changed',
  },
  COREFLOW_ERR_AGENT_UNREACHABLE: { terminal: false, message: 'cannot read the status of the agent at {agent}: {details}. Is `coreflow agent` running there (see --agent and COREFLOW_PORT)?' },
  COREFLOW_ERR_SERVICE_DEGRADED: { terminal: false, message: 'service {service} is degraded: {details}' },
  COREFLOW_ERR_HTTP_REQUEST: { terminal: true, message: '{details}' },
  COREFLOW_ERR_HTTP_UNAUTHORIZED: { terminal: true, message: '{details}' },
  COREFLOW_ERR_NOT_READY: { terminal: false, message: '{details}' },
  COREFLOW_ERR_UNEXPECTED: { terminal: false, message: 'unexpected error: {details}' },
  COREFLOW_ERR_STOP_TIMEOUT: { terminal: false, message: 'stopping did not finish within {timeoutMs} ms; exiting without waiting for the rest' },
  COREFLOW_ERR_DOCUMENT_TOO_LARGE: {
    terminal: true,
    message: 'the desired-state document would be {size} bytes, over the {limit} bytes agents can receive in one protocol frame; nothing was changed',
  },
  COREFLOW_ERR_SECRET_FILE: { terminal: false, message: 'cannot read the secret file {path} given by {setting}: {details}. Check the path (a Docker secret is mounted under /run/secrets/NAME) and that the file is readable' },
  COREFLOW_ERR_LEASE_LOST: {
    terminal: false,
    message: 'the agent lease {name} is no longer held by this agent ({details}); it stops reconciling and exits, and its restart waits as a standby',
  },
  COREFLOW_ERR_STACK_NOT_FOUND: { terminal: true, message: '{what} matches no running service{known}; nothing was exported' },
  COREFLOW_ERR_ADOPT_OWNED_ELSEWHERE: {
    terminal: true,
    message: 'service {service} is owned by coreflow cluster {owner}, not {cluster}; nothing was adopted. Remove it from that cluster\'s spec first, or adopt it there',
  },
  COREFLOW_ERR_ADOPT_MISSING: { terminal: true, message: 'nothing was adopted: these services of the spec cannot be adopted:\n{details}' },
  COREFLOW_ERR_ADOPT_DIFFERS: {
    terminal: true,
    message: 'nothing was adopted: the spec differs from what runs (adopting never changes a service); make the spec match, e.g. with coreflow export:\n{details}',
  },
  COREFLOW_ERR_UPDATE_PAUSED: { terminal: false, message: 'the rolling update of service {service} paused: {details}' },
  COREFLOW_ERR_UPDATE_ROLLED_BACK: {
    terminal: true,
    message: 'service {service} was rolled back after its update paused; it is not updated again until its spec changes or `coreflow retry service/{service}`',
  },
  COREFLOW_ERR_RETRIES_EXHAUSTED: {
    terminal: true,
    message: '{object} failed {attempts} times in a row; no more retries until its desired state changes or `coreflow retry {object}`',
  },
  COREFLOW_ERR_UNKNOWN_OBJECT: { terminal: true, message: '{object} is not an object of the last run (expected kind/name, e.g. service/web)' },
  COREFLOW_ERR_SPEC_LIMIT: { terminal: true, message: '{where}: {what} is {value}, over the limit of {limit} (setting {setting})' },
  COREFLOW_ERR_PLAN_UNKNOWN: { terminal: true, message: 'no plan {id} is waiting for approval ({details}); nothing was applied' },
  COREFLOW_ERR_PLAN_STALE: { terminal: true, message: 'plan {id} is stale: {details}. Nothing was applied from it; review and approve the new plan' },
  COREFLOW_ERR_TARGET_UNKNOWN: { terminal: true, message: 'unknown object {target}: {details}; nothing was changed' },
  COREFLOW_ERR_AGENT_REQUEST: { terminal: true, message: '{operation} on the agent at {agent} failed: {details}' },
  COREFLOW_ERR_CORESTORE_UNREACHABLE: {
    terminal: false,
    message: 'cannot reach Corestore at {url} ({operation}): {details}. Is the corestore base service running and CORESTORE_CONTROL_URL right?',
  },
  COREFLOW_ERR_CORESTORE_API: { terminal: false, message: 'Corestore {operation} failed ({status}): {details}' },
  COREFLOW_ERR_CORESTORE_REFUSED: { terminal: true, message: 'Corestore refused {operation} ({status}): {details}' },
  COREFLOW_ERR_CORESTORE_NO_TOKEN: {
    terminal: true,
    message: 'cannot {operation}: no Corestore API token is set; give CORESTORE_API_TOKEN or CORESTORE_API_TOKEN_FILE',
  },
  COREFLOW_ERR_BINDING_NAME_IN_USE: {
    terminal: true,
    message: 'Corestore refused {operation}: {details}. The name belongs to another service or cluster; give the binding another name (bindings[].name)',
  },
  COREFLOW_ERR_BINDING_NOT_READY: { terminal: false, message: 'the {type} binding {name} of service {service} is not ready ({state}){details}' },
  COREFLOW_ERR_VOLUME_PLUGIN_MISSING: {
    terminal: false,
    message: 'service {service} mounts volume {volume} with driver "{driver}", but no node of this swarm has the {driver} volume plugin. Install the plugin (the corestore base service provides it) or set driver: local on the volume',
  },
} as const satisfies Record<string, { terminal: boolean; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export type ErrorParams = Record<string, string | number>;

function render(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in params ? String(params[key]) : whole));
}

export class CoreflowError extends Error {
  readonly code: ErrorCode;
  readonly terminal: boolean;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(render(errorCatalogue[code].message, params), options);
    this.name = 'CoreflowError';
    this.code = code;
    this.terminal = errorCatalogue[code].terminal;
    this.params = params;
  }
}

export function isCoreflowError(err: unknown, code?: ErrorCode): err is CoreflowError {
  return err instanceof CoreflowError && (code === undefined || err.code === code);
}

/**
 * The code of any thrown value: a CoreflowError's own, COREFLOW_ERR_UNEXPECTED for anything else
 * (a bug, or a library failing in a way coreflow does not know).
 */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof CoreflowError ? err.code : 'COREFLOW_ERR_UNEXPECTED';
}

/**
 * Log fields for a failure: a CoreflowError by its code and text; anything else with its code
 * COREFLOW_ERR_UNEXPECTED and the error itself, which pino writes with its stack.
 */
export function errorLogFields(err: unknown): { code: ErrorCode; err: unknown } {
  return err instanceof CoreflowError ? { code: err.code, err: err.message } : { code: 'COREFLOW_ERR_UNEXPECTED', err };
}

/**
 * A CoreflowError that crossed a thread boundary as its code and parameters (structured clone
 * keeps neither the class nor the code's type): the same error again, or COREFLOW_ERR_UNEXPECTED
 * with the text when the code is not in the catalogue.
 */
export function rebuildError(code: string, params: ErrorParams | undefined, text: string): CoreflowError {
  return code in errorCatalogue ? new CoreflowError(code as ErrorCode, params) : new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: text });
}

/** A message for any thrown value, for results and logs. Never includes stack traces. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
