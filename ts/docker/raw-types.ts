/**
 * The Engine API's JSON as coreflow reads it, declared once: only the fields some module reads,
 * all that Docker may omit optional. Modules map these to their own small types at the edge.
 */

export interface RawNetwork {
  Id: string;
  Name: string;
  Driver?: string;
  Labels?: Record<string, string> | null;
  Created?: string;
}

export interface RawSecret {
  ID: string;
  CreatedAt?: string;
  Spec: { Name: string; Labels?: Record<string, string> };
}

/** The secret references of a container spec. */
export interface RawSecretRefs {
  Secrets?: { SecretID?: string; SecretName?: string }[];
}

export interface RawServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  Mode?: { Replicated?: { Replicas?: number }; Global?: object };
  TaskTemplate?: {
    Networks?: { Target: string }[];
    ContainerSpec?: RawSecretRefs & { Healthcheck?: { Test?: string[] } };
    Placement?: { Constraints?: string[]; MaxReplicas?: number };
  };
  Networks?: { Target: string }[];
}

export interface RawService {
  ID: string;
  Version: { Index: number };
  Spec: RawServiceSpec & Record<string, unknown>;
  PreviousSpec?: { TaskTemplate?: { ContainerSpec?: RawSecretRefs } };
  UpdateStatus?: { State?: string; Message?: string };
}

export interface RawTask {
  ID?: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string; Err?: string; Message?: string; Timestamp?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
  NetworksAttachments?: { Network?: { ID?: string }; Addresses?: string[] }[];
}

export interface RawVolumes {
  Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null;
}

export interface RawContainer {
  /** "Up 2 minutes (healthy)": ends in the health-check state for a container with a check. */
  Status?: string;
  Labels?: Record<string, string>;
  Mounts?: { Type?: string; Name?: string }[];
}

/** GET /containers/{id}/json. */
export interface RawContainerInspect {
  State?: { Health?: { Log?: { ExitCode: number; Output?: string }[] } };
}
