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
      Mounts?: DockerMount[];
      Secrets?: DockerSecretRef[];
    };
    Resources?: {
      Limits?: { NanoCPUs?: number; MemoryBytes?: number };
      Reservations?: { NanoCPUs?: number; MemoryBytes?: number };
    };
    Networks?: { Target: string; Aliases?: string[] }[];
    Placement?: { Constraints?: string[] };
  };
  Mode: { Replicated: { Replicas: number } } | { Global: Record<string, never> };
  UpdateConfig?: { Parallelism: number; Order: 'start-first' | 'stop-first'; FailureAction: string; Monitor: number };
  EndpointSpec?: { Ports?: { TargetPort: number; PublishedPort: number; Protocol: string; PublishMode: string }[] };
}

export interface DockerMount {
  Type: 'bind' | 'volume';
  Source: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { Labels?: Record<string, string>; DriverConfig?: { Name: string; Options?: Record<string, string> } };
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
  /** Set when the record is deliberately not deployed (another serviceCategory); an existing service is kept. */
  excluded?: string;
  spec: DockerServiceSpec;
  /** Hash of `spec` without the hash label; stored in the hash label. */
  hash: string;
  /** Base64url X-Registry-Auth for private registries. Never logged or printed. */
  registryAuth?: string;
  /** Set for images from a declared registry: checked (credentials, image) before a create or update. */
  pullCheck?: PullCheck;
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
