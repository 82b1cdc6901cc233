import type { ContainerHealth } from '../docker/task-container-health.ts';
import type { RouteEntry } from '../protocol/methods.ts';

/**
 * The route table and its inputs. One entry per hostname, in the shape edge proxies already
 * speak (IReverseProxyConfig of the edge proxies): every destination IP is tried with every port. The
 * entry's schema is the wire schema of updateRouting (ts/protocol/methods.ts), defined once.
 */
export type { RouteEntry };

/** Why a service or hostname is not (fully) routed. Never contains key material. */
export interface RouteProblem {
  service: string;
  hostName?: string;
  reason: string;
}

export interface RouteTable {
  routes: RouteEntry[];
  problems: RouteProblem[];
}

/** A live Docker service of this cluster, as the builder needs it. */
export interface RoutingService {
  id: string;
  name: string;
}

/** A live Docker task: which service, whether it runs, and its address on each network (by network ID). */
export interface RoutingTask {
  id: string;
  serviceId: string;
  /** Status.State, e.g. running, starting, shutdown. */
  state: string;
  /** DesiredState: running while the task is wanted; shutdown as soon as it is being stopped. */
  desiredState: string;
  /** network ID -> IP (without prefix length). */
  addresses: Record<string, string>;
  /** The health check state of the task's container, when it runs on this node and has a check. */
  health?: ContainerHealth;
}

export interface RoutingNetwork {
  id: string;
  name: string;
}

/** A certificate for one hostname (or wildcard). `notAfter` is epoch milliseconds. */
export interface CertificateEntry {
  domain: string;
  publicKey: string;
  privateKey: string;
  notAfter: number;
  /** spec | provider, for reports. */
  source: string;
}
