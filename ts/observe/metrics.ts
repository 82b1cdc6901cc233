import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The agent's Prometheus metrics, in the naming controller-runtime made standard. One instance
 * (and one prom-client Registry, not the global one) per agent, so several agents can run in one
 * process (tests). Other parts set their gauges through the agent's instance:
 * `agent.metrics.controlplaneConnected.set(1)`, `agent.metrics.edgeProxiesConnected.set(n)`,
 * `agent.metrics.routes.set(n)`. Labels carry names and kinds only, never secret values.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  /** Runs of the chain ("chain") and of every background controller, by result: success | error | partial. */
  readonly reconcileTotal = new Counter({
    name: 'coreflow_reconcile_total',
    help: 'Total number of reconciliations per controller, by result',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'coreflow_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: 'coreflow_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly itemsProcessed = new Counter({
    name: 'coreflow_reconcile_items_total',
    help: 'Items (objects, events, tasks) processed per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly lastReconcile = new Gauge({
    name: 'coreflow_last_reconcile_timestamp_seconds',
    help: 'Unix time of the last finished reconciliation per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly controllerRunning = new Gauge({
    name: 'coreflow_controller_running',
    help: 'Whether a controller loop is running (1) or stopped (0)',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly dockerRequests = new Counter({
    name: 'coreflow_docker_requests_total',
    help: 'Requests to the Docker Engine API by operation and HTTP status code (0: no answer)',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });
  readonly registryRequests = new Counter({
    name: 'coreflow_registry_requests_total',
    help: 'Requests to image registries (tag to digest) and their token servers by registry host and HTTP status code (0: no answer)',
    labelNames: ['registry', 'code'] as const,
    registers: [this.registry],
  });
  readonly ownedObjects = new Gauge({
    name: 'coreflow_owned_objects',
    help: 'Objects coreflow manages for this cluster, by kind, as of the last run',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly driftedObjects = new Gauge({
    name: 'coreflow_drifted_objects',
    help: 'Objects found changed outside coreflow in the last run',
    registers: [this.registry],
  });
  readonly controlplaneConnected = new Gauge({
    name: 'coreflow_controlplane_connected',
    help: 'Whether the agent is connected to its control plane (1) or not (0)',
    registers: [this.registry],
  });
  readonly edgeProxiesConnected = new Gauge({
    name: 'coreflow_edge_proxies_connected',
    help: 'Edge proxies connected over WebSocket',
    registers: [this.registry],
  });
  readonly routes = new Gauge({
    name: 'coreflow_routes',
    help: 'Routes in the current routing table',
    registers: [this.registry],
  });

  readonly leaseHeld = new Gauge({
    name: 'coreflow_lease_held',
    help: 'Whether this agent holds its cluster lease and reconciles (1) or is a standby (0)',
    registers: [this.registry],
  });
  readonly leaseHolder = new Gauge({
    name: 'coreflow_lease_holder',
    help: 'The holder of the cluster lease as this agent last read it (value 1, holder and lease in the labels)',
    labelNames: ['holder', 'lease'] as const,
    registers: [this.registry],
  });
  readonly bindings = new Gauge({
    name: 'coreflow_bindings',
    help: 'Platform bindings (Corestore) as of the last run, by type and state (ready, progressing, failed, orphaned: its service was removed and the binding kept)',
    labelNames: ['type', 'state'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.leaseHeld.set(0);
    this.controlplaneConnected.set(0);
    this.edgeProxiesConnected.set(0);
    this.routes.set(0);
    this.driftedObjects.set(0);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'coreflow_' });
  }

  /** Records one reconciliation of a controller (the chain is controller "chain"). */
  recordReconcile(controller: string, seconds: number, result: 'success' | 'error' | 'partial', items = 0): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
    this.lastReconcile.set({ controller }, Date.now() / 1000);
    if (items > 0) this.itemsProcessed.inc({ controller }, items);
  }

  /** Counts one request to the Docker Engine (coreflow_docker_requests_total); status 0: no answer. */
  recordDockerCall(call: { operation: string; status: number }): void {
    this.dockerRequests.inc({ operation: call.operation, code: String(call.status) });
  }

  /** Counts one request to an image registry (coreflow_registry_requests_total); status 0: no answer. */
  recordRegistryRequest(r: { registry: string; code: number }): void {
    this.registryRequests.inc({ registry: r.registry, code: String(r.code) });
  }

  private readonly samplers: (() => void)[] = [];

  /** Runs `fn` before every scrape, e.g. to copy a count (connected edges, routes) into a gauge. */
  sampleOnScrape(fn: () => void): void {
    this.samplers.push(fn);
  }

  /** The Prometheus text exposition. A sampler that throws leaves its gauges as they were. */
  text(): Promise<string> {
    for (const fn of this.samplers) {
      try {
        fn();
      } catch {
        // keep the last values
      }
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
