import type { ErrorCode } from '../errors.ts';
import type { ImagePin } from './image-pin.ts';
import type { PullCheck } from './registry-auth.ts';

/** The parts of a Docker ServiceSpec coreflow sets. Everything else keeps Docker's defaults. */
export interface DockerServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Command?: string[];
      Args?: string[];
      Env?: string[];
      Labels?: Record<string, string>;
      Hostname?: string;
      Dir?: string;
      User?: string;
      Init?: boolean;
      ReadOnly?: boolean;
      StopSignal?: string;
      /** Nanoseconds, as are all durations below. */
      StopGracePeriod?: number;
      /** Spelled so by `docker service inspect` (the API reference writes HealthCheck; Docker reads either). */
      Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
      /** Hosts-file lines: "ip hostname". */
      Hosts?: string[];
      DNSConfig?: { Nameservers?: string[]; Search?: string[]; Options?: string[] };
      Sysctls?: Record<string, string>;
      CapabilityAdd?: string[];
      CapabilityDrop?: string[];
      Ulimits?: { Name: string; Soft: number; Hard: number }[];
      Mounts?: (DockerMount | DockerTmpfsMount)[];
      Secrets?: DockerSecretRef[];
    };
    Resources?: {
      Limits?: { NanoCPUs?: number; MemoryBytes?: number };
      Reservations?: { NanoCPUs?: number; MemoryBytes?: number };
    };
    Networks?: { Target: string; Aliases?: string[] }[];
    RestartPolicy?: { Condition?: 'none' | 'on-failure' | 'any'; Delay?: number; MaxAttempts?: number; Window?: number };
    Placement?: { Constraints?: string[]; Preferences?: { Spread: { SpreadDescriptor: string } }[]; MaxReplicas?: number };
    LogDriver?: { Name: string; Options?: Record<string, string> };
  };
  Mode: { Replicated: { Replicas: number } } | { Global: Record<string, never> };
  UpdateConfig?: { Parallelism: number; Order: 'start-first' | 'stop-first'; FailureAction: string; Monitor?: number };
  RollbackConfig?: { Parallelism?: number; Order?: 'start-first' | 'stop-first'; FailureAction?: string; Monitor?: number };
  EndpointSpec?: { Mode?: 'vip' | 'dnsrr'; Ports?: { TargetPort: number; PublishedPort: number; Protocol: string; PublishMode: string }[] };
}

export interface DockerMount {
  Type: 'bind' | 'volume';
  Source: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { Labels?: Record<string, string>; DriverConfig?: { Name: string; Options?: Record<string, string> } };
}

export interface DockerTmpfsMount {
  Type: 'tmpfs';
  Target: string;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface DockerSecretRef {
  SecretName: string;
  /** Resolved from the secret's name when the service is applied. */
  SecretID?: string;
  File: { Name: string; UID: string; GID: string; Mode: number };
}

export type ServiceRole = 'base' | 'workload';

/** One service as coreflow wants it, ready to plan and apply. */
export interface DesiredService {
  name: string;
  role: ServiceRole;
  /** Set when the record cannot be deployed; nothing is created or changed for it. */
  invalid?: string;
  /** The catalogue code of `invalid` (default COREFLOW_ERR_SPEC_INVALID). */
  invalidCode?: ErrorCode;
  /** Set when the record is deliberately not deployed (another serviceCategory); an existing service is kept. */
  excluded?: string;
  spec: DockerServiceSpec;
  /** Hash of `spec` without the hash label; stored in the hash label. */
  hash: string;
  /** Base64url X-Registry-Auth for private registries. Never logged or printed. */
  registryAuth?: string;
  /** Set for images from a declared registry: checked (credentials, image) before a create or update. */
  pullCheck?: PullCheck;
  /** Set when the image's tag was resolved in this run: to what digest, or why not. */
  imagePin?: ImagePin;
}

export interface LiveService {
  id: string;
  name: string;
  version: number;
  labels: Record<string, string>;
  /** Docker's stored spec, network IDs turned back into names. */
  spec: Record<string, unknown>;
  updateState?: string;
}
