/**
 * Counts every request coreflow sends to the Docker Engine, by operation and outcome. Tests and
 * benches use it to prove that a no-op reconcile writes nothing; metrics export it.
 */
export interface ApiCall {
  /** e.g. "GET /services", "POST /services/{id}/update" */
  operation: string;
  method: string;
  /** HTTP status, or 0 when the request did not get an answer. */
  status: number;
}

export type ApiCallListener = (call: ApiCall) => void;

const ID_SEGMENT = /\/(services|networks|secrets|volumes|tasks|nodes|containers|configs|images|plugins)\/(?!create\b|prune\b|json\b)[^/?]+/g;

/** "/v1.41/services/abc/update?version=3" -> "/services/{id}/update"; image names become {name}. */
export function operationOf(method: string, path: string): string {
  const bare = path
    .split('?')[0]!
    .replace(/^\/v\d+\.\d+/, '')
    .replace(/^\/distribution\/.+\/json$/, '/distribution/{name}/json')
    .replace(ID_SEGMENT, '/$1/{id}');
  return `${method.toUpperCase()} ${bare}`;
}

export class ApiCallCounter {
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<ApiCallListener>();

  record(call: ApiCall): void {
    this.counts.set(call.operation, (this.counts.get(call.operation) ?? 0) + 1);
    for (const l of this.listeners) l(call);
  }

  onCall(listener: ApiCallListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A copy of the counts so far, by operation. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** Requests that can change something (anything but GET and HEAD). */
  writes(): number {
    let n = 0;
    for (const [op, v] of this.counts) if (!op.startsWith('GET ') && !op.startsWith('HEAD ')) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }
}
