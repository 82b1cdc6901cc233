import { CoreflowError } from '../errors.ts';
import type { Action, RunContext, Step } from '../reconcile/types.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { routedHostsFromSpec, type RoutedHost } from '../spec/routed-hosts.ts';
import type { CloudflareApiOptions, CloudflareDns } from './cloudflare-api.ts';
import { desiredDnsRecords } from './desired.ts';
import { planDns, type DnsPayload } from './plan.ts';
import type { LiveRecord } from './records.ts';

export interface DnsStepOptions {
  /** Reads the API token at every run (a token file may be rotated); undefined: none is set. */
  token?: () => Promise<string | undefined>;
  /** The Cloudflare API base URL; default https://api.cloudflare.com/client/v4. */
  baseURL?: string;
  /** The hostnames to publish: the spec's routed domains unless given (the route table can feed it). */
  hosts?: (spec: ClusterSpec) => RoutedHost[];
  /** Default ['services']: records follow the services that serve them. */
  dependsOn?: string[];
  /** Rate limit, retries, paging (see CloudflareApiOptions). */
  api?: Omit<CloudflareApiOptions, 'apiToken' | 'baseURL'>;
}

export interface DnsLive {
  /** False when the spec has no dns section: nothing was read, nothing is planned. */
  enabled: boolean;
  /** Zone name -> zone id. */
  zones: Map<string, string>;
  records: LiveRecord[];
  api?: CloudflareDns;
}

/**
 * The `dns` step, last in the chain: keeps Cloudflare records in step with the routed domains
 * (ts/dns/plan.ts says how). A failure here (no token, auth, API down) fails this step only;
 * nothing depends on it. Without a dns section it reads nothing and plans nothing.
 */
export function dnsStep(opts: DnsStepOptions = {}): Step<DnsLive> {
  let api: CloudflareDns | undefined;
  let apiToken: string | undefined;
  /** Zone ids found by name, kept across runs (a zone's id never changes). */
  const zoneIds = new Map<string, string>();
  const scopeOf = (ctx: RunContext) => ({ signal: ctx.signal, log: ctx.log });
  return {
    kind: 'dns',
    dependsOn: opts.dependsOn ?? ['services'],
    async observe(ctx) {
      const dns = ctx.spec.dns;
      if (!dns) return { enabled: false, zones: new Map(), records: [] };
      const token = await opts.token?.();
      if (!token) throw new CoreflowError('COREFLOW_ERR_DNS_NO_TOKEN');
      if (!api || token !== apiToken) {
        // Loaded here, on the first run with a dns section: the Cloudflare SDK costs about a second of start-up.
        const { CloudflareDns } = await import('./cloudflare-api.ts');
        api = new CloudflareDns({ ...opts.api, apiToken: token, ...(opts.baseURL ? { baseURL: opts.baseURL } : {}) });
        apiToken = token;
      }
      const zones = new Map<string, string>();
      const records: LiveRecord[] = [];
      for (const zone of dns.zones) {
        let id = zone.id ?? zoneIds.get(zone.name);
        if (!id) {
          id = await api.findZoneId(zone.name, scopeOf(ctx));
          zoneIds.set(zone.name, id);
        }
        zones.set(zone.name, id);
        records.push(...(await api.listRecords({ name: zone.name, id }, scopeOf(ctx))));
      }
      return { enabled: true, zones, records, api };
    },
    plan(spec, live, ctx) {
      if (!live.enabled || !spec.dns) return [];
      const { records, problems } = desiredDnsRecords(spec.dns, (opts.hosts ?? routedHostsFromSpec)(spec));
      return planDns({
        desired: records,
        live: live.records,
        owner: spec.cluster.name,
        problems,
        allowMassDeletion: ctx.confirmMassDeletion || spec.guards.allowMassDeletion,
      });
    },
    async apply(action: Action, ctx, live) {
      const p = action.payload as DnsPayload;
      const zoneId = live.zones.get(p.zone);
      if (!live.api || !zoneId) throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: `zone ${p.zone} was not read in this run` });
      const scope = scopeOf(ctx);
      if (action.type === 'create' && p.body) await live.api.createRecord(zoneId, p.body, scope);
      else if (action.type === 'update' && p.body && p.liveId) await live.api.updateRecord(zoneId, p.liveId, p.body, scope);
      else if (action.type === 'delete' && p.liveId) await live.api.deleteRecord(zoneId, p.liveId, action.name, scope);
      else throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: `nothing to apply for ${action.type} ${action.name}` });
    },
  };
}
