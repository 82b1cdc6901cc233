/**
 * A long-running part: the agent, the internal server, the controllers manager, the event stream,
 * a desired-state source. `start` resolves once the part works; `stop` ends it promptly (in-flight
 * I/O aborted) and never throws for a part that did not start.
 */
export interface Lifecycle {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
