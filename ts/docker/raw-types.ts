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
  TaskTemplate?: { Networks?: { Target: string }[]; ContainerSpec?: RawSecretRefs };
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
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string; Err?: string; Message?: string; Timestamp?: string };
}

export interface RawVolumes {
  Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null;
}

export interface RawContainer {
  Mounts?: { Type?: string; Name?: string }[];
}
