/**
 * Services a backup or restore has taken out of reconciling for a while (scaled to 0 for a
 * consistent copy or a restore): the services step skips them instead of healing the replica
 * count back. A hold ends when the operation ends, whatever its outcome.
 */
export class ServiceHolds {
  private readonly holds = new Map<string, string>();

  hold(service: string, reason: string): () => void {
    this.holds.set(service, reason);
    return () => {
      if (this.holds.get(service) === reason) this.holds.delete(service);
    };
  }

  /** Why the service is held, or undefined. */
  reason = (service: string): string | undefined => this.holds.get(service);
}
