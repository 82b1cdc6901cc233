import { z } from 'zod';

/**
 * Every method of the protocol with its request and response schema (docs/protocol.md): `methods`
 * for the agent <-> control plane link, `edgeMethods` for the agent -> edge proxy link. Peers
 * validate requests before a handler runs and responses before the caller sees them.
 */

const isoTime = z.string().min(1);

export const identitySchema = z.strictObject({
  clusterName: z.string().min(1),
  role: z.literal('cluster'),
  expiresAt: isoTime.nullable(),
});

const runSummarySchema = z.strictObject({
  creates: z.number().int(),
  updates: z.number().int(),
  deletes: z.number().int(),
  unchanged: z.number().int(),
  failed: z.number().int(),
  blocked: z.number().int(),
});

/** The three status axes (docs/observability.md; the same values /v1/status serves). */
const axes = {
  sync: z.enum(['Synced', 'OutOfSync', 'Unknown']),
  health: z.enum(['Healthy', 'Degraded', 'Progressing', 'Missing', 'Suspended']),
  operation: z.enum(['Idle', 'Syncing', 'Waiting']),
  message: z.string().optional(),
};

/** The agent's status as /v1/status computes it: overall and per object. */
export const agentStatusSchema = z.strictObject({
  generatedAt: isoTime,
  overall: z.strictObject(axes),
  objects: z.array(z.strictObject({ kind: z.string(), name: z.string(), ...axes })),
});

export const reportSchema = z.strictObject({
  /** `run`: sent after a run; `health`: a service's health changed between runs. */
  reason: z.enum(['run', 'health']),
  /** The last run (for a `health` report, the run before the change). */
  run: z.strictObject({
    runId: z.string(),
    trigger: z.string(),
    status: z.enum(['succeeded', 'partial', 'failed']),
    specHash: z.string(),
    startedAt: isoTime,
    finishedAt: isoTime,
    durationMs: z.number(),
    summary: runSummarySchema,
  }),
  services: z.array(
    z.strictObject({
      name: z.string(),
      health: z.enum(['ok', 'failed', 'blocked']),
      action: z.enum(['create', 'update', 'delete', 'skip']),
      reason: z.string(),
      error: z.string().optional(),
      /** The catalogue code of `error` (docs/errors.md); a string, so a newer agent's codes pass. */
      code: z.string().optional(),
      /** Tasks running when the report was made, and replicas asked for (null: global). */
      tasks: z.strictObject({ running: z.number().int(), desired: z.number().int().nullable() }).optional(),
    }),
  ),
  /** The three-axis status when the report was made. */
  status: agentStatusSchema,
});

/** A plan waiting for approval on the agent (COREFLOW_APPLY_MODE=approve, or deletions held by the guard). */
export const planSchema = z.strictObject({
  id: z.string().min(1),
  runId: z.string(),
  createdAt: isoTime,
  specHash: z.string(),
  why: z.enum(['approve-mode', 'mass-deletion']),
  changes: z.array(
    z.strictObject({
      kind: z.string(),
      name: z.string(),
      type: z.enum(['create', 'update', 'delete', 'skip']),
      reason: z.string(),
      diff: z.array(z.string()).optional(),
      /** A deletion held by the mass-deletion guard: approving the plan confirms it. */
      guarded: z.boolean().optional(),
    }),
  ),
});

export const methods = {
  getIdentityByToken: {
    request: z.strictObject({
      token: z.string().min(1).max(4096),
      protocolVersion: z.number().int(),
      agent: z.strictObject({ version: z.string().optional(), hostname: z.string().optional() }).optional(),
    }),
    response: z.strictObject({ protocolVersion: z.number().int(), identity: identitySchema }),
    timeoutMs: 10_000,
  },
  getClusterConfig: {
    request: z.strictObject({}),
    response: z.strictObject({ spec: z.record(z.string(), z.unknown()), specHash: z.string().optional() }),
    timeoutMs: 30_000,
  },
  pushClusterConfig: {
    request: z.strictObject({ spec: z.record(z.string(), z.unknown()), reason: z.string().optional() }),
    response: z.discriminatedUnion('accepted', [
      z.strictObject({ accepted: z.literal(true), specHash: z.string() }),
      z.strictObject({ accepted: z.literal(false), errors: z.array(z.string()) }),
    ]),
    timeoutMs: 30_000,
  },
  reportStatus: {
    request: reportSchema,
    response: z.strictObject({ received: z.literal(true) }),
    timeoutMs: 10_000,
  },
  reportPlan: {
    /** The plan waiting for approval; null: none waits any more (applied, replaced by nothing). */
    request: z.strictObject({ plan: planSchema.nullable() }),
    response: z.strictObject({ received: z.literal(true) }),
    timeoutMs: 10_000,
  },
  approvePlan: {
    request: z.strictObject({ planId: z.string().min(1).max(200) }),
    response: z.strictObject({ planId: z.string(), runId: z.string(), status: z.enum(['succeeded', 'partial', 'failed']) }),
    /** The agent applies the plan before it answers. */
    timeoutMs: 15 * 60_000,
  },
  setSuspended: {
    request: z.strictObject({ service: z.string().min(1).max(200), suspended: z.boolean() }),
    response: z.strictObject({ service: z.string(), suspended: z.boolean(), changed: z.boolean() }),
    timeoutMs: 10_000,
  },
  redeployService: {
    request: z.strictObject({ service: z.string().min(1).max(256) }),
    response: z.strictObject({
      service: z.string(),
      runId: z.string(),
      action: z.enum(['create', 'update', 'delete', 'skip']).optional(),
      status: z.string(),
      reason: z.string().optional(),
      diff: z.array(z.string()).optional(),
      error: z.string().optional(),
      warning: z.string().optional(),
    }),
    timeoutMs: 120_000,
  },
  getCertificateForDomain: {
    request: z.strictObject({ domain: z.string().min(1) }),
    response: z.strictObject({ domain: z.string(), certPem: z.string(), keyPem: z.string(), expiresAt: isoTime }),
    timeoutMs: 60_000,
  },
} as const;

/**
 * One route of the table the agent hands to edge proxies (their IReverseProxyConfig): every
 * destination IP is tried with every port. Routing's RouteEntry is this type.
 */
export const routeEntrySchema = z.strictObject({
  hostName: z.string().min(1),
  /** The gateway-network IPs of ALL running tasks of the service, sorted. */
  destinationIps: z.array(z.string().min(1)),
  destinationPorts: z.array(z.number().int().min(1).max(65535)),
  /** PEM private key; "" when the hostname has no certificate (then it is served over HTTP only). */
  privateKey: z.string(),
  /** PEM certificate chain; "" when the hostname has no certificate. */
  publicKey: z.string(),
});

/**
 * The agent -> edge proxy link (WS /v1/edge on the agent's internal server): the same envelope
 * and Peer as the control-plane link, its own method table. A separate table, so neither link
 * accepts the other's methods: an edge calling getClusterConfig, or a control plane calling
 * updateRouting, gets COREFLOW_ERR_UNKNOWN_METHOD.
 */
export const edgeMethods = {
  updateRouting: {
    /** Always the whole table (replace, not patch); an empty array routes nothing. */
    request: z.strictObject({ reverseConfigs: z.array(routeEntrySchema) }),
    response: z.strictObject({ status: z.enum(['ok', 'error']), errorText: z.string().optional() }),
    timeoutMs: 10_000,
  },
} as const;

export type MethodName = keyof typeof methods;
export type RequestOf<M extends MethodName> = z.input<(typeof methods)[M]['request']>;
export type ResponseOf<M extends MethodName> = z.output<(typeof methods)[M]['response']>;
export type Identity = z.infer<typeof identitySchema>;
export type RedeployAnswer = z.output<(typeof methods)['redeployService']['response']>;
export type StatusReport = z.infer<typeof reportSchema>;
export type RouteEntry = z.infer<typeof routeEntrySchema>;
export type UpdateRoutingResponse = z.output<(typeof edgeMethods)['updateRouting']['response']>;
export type ReportedStatus = z.infer<typeof agentStatusSchema>;
export type ReportedPlan = z.infer<typeof planSchema>;
