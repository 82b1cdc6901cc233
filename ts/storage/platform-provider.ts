import type { Logger } from '../observe/logger.ts';

/** The kinds of platform resource a service can be bound to. */
export const BINDING_TYPES = ['database', 'objectstorage'] as const;
export type BindingType = (typeof BINDING_TYPES)[number];

/** Who a provisioned resource belongs to: one service of one cluster. */
export interface BindingOwner {
  cluster: string;
  service: string;
}

/** What a service asks for: a resource of `type` called `name`, owned by `owner`. */
export interface BindingRequest {
  type: BindingType;
  name: string;
  owner: BindingOwner;
  /** Provider-specific options (engine version, region...), passed along unchanged. */
  options: Record<string, string>;
}

export type BindingState = 'ready' | 'provisioning' | 'failed';

/**
 * A resource as the provider holds it. `env` holds the credentials: it is secret and only ever
 * merged into the service's Docker secret. Everything else (endpoint, credentialRef) may be
 * reported.
 */
export interface ProvisionedBinding {
  type: BindingType;
  name: string;
  owner: BindingOwner;
  id: string;
  state: BindingState;
  /** Where the resource is reached, without credentials (a host:port or URL). */
  endpoint: string;
  /** An opaque reference to the current credential; it changes when the credential is rotated. */
  credentialRef: string;
  /** Why the provider marked the resource failed, when it did. */
  message?: string;
  env: Record<string, string>;
}

/** Per call: the run's abort signal and logger. */
export interface ProviderScope {
  signal: AbortSignal;
  log: Logger;
}

/**
 * A source of platform resources (databases, object storage). Provisioning is idempotent: asking
 * again for a binding that exists with the same owner returns it unchanged; a name held by another
 * owner fails with COREFLOW_ERR_BINDING_NAME_IN_USE. Release removes the resource and its data.
 * Errors are CoreflowErrors; transient ones (unreachable, 5xx, timeouts) are retried inside first.
 */
export interface PlatformProvider {
  readonly name: string;
  /** Every binding owned by services of `cluster`, credentials included. */
  list(cluster: string, scope: ProviderScope): Promise<ProvisionedBinding[]>;
  provision(request: BindingRequest, scope: ProviderScope): Promise<ProvisionedBinding>;
  /** Idempotent: releasing a binding that no longer exists succeeds. */
  release(binding: { type: BindingType; name: string; owner: BindingOwner }, scope: ProviderScope): Promise<void>;
}
