import type Docker from 'dockerode';
import { isCoreflowError } from '../errors.ts';
import type { Action, Step } from '../reconcile/types.ts';
import type { DockerModelOf } from './desired-model.ts';
import { isOwned, ownedFilter } from './labels.ts';
import type { RawContainer, RawVolumes } from './raw-types.ts';
import { dockerRequest } from './request.ts';
import { LABEL_VOLUME_BACKUP, LABEL_VOLUME_PRUNABLE, LABEL_VOLUME_SERVICE } from './volumes.ts';

/** Called before a backup-enabled volume is removed; a throw keeps the volume (the action fails). */
export type VolumeRemovalHook = (volume: LiveVolume, signal: AbortSignal) => Promise<void>;

export interface LiveVolume {
  name: string;
  labels: Record<string, string>;
}

export interface VolumePruneLive {
  /** Owned volumes of this cluster on this node that were created as prunable. */
  volumes: LiveVolume[];
  /** Volume names mounted by a container on this node (running or not). */
  inUse: Set<string>;
}

/**
 * Pure. Data outlives services: only a volume created as prunable (label coreflow.prunable=true)
 * that no desired service mounts and no container uses is removed. Every other volume stays,
 * including the unlabelled and other clusters' ones, which are never observed at all.
 */
export function planVolumePrune(cluster: string, desired: ReadonlySet<string>, live: VolumePruneLive): Action<LiveVolume>[] {
  const actions: Action<LiveVolume>[] = [];
  for (const v of live.volumes) {
    if (!isOwned(v.labels, cluster) || v.labels[LABEL_VOLUME_PRUNABLE] !== 'true' || desired.has(v.name)) continue;
    const base = { kind: 'volume', name: v.name, payload: v } as const;
    const was = v.labels[LABEL_VOLUME_SERVICE] ? ` (was ${v.labels[LABEL_VOLUME_SERVICE]})` : '';
    if (live.inUse.has(v.name)) actions.push({ ...base, type: 'skip', reason: `no longer desired${was}; still used by a container, removed in a later run` });
    else actions.push({ ...base, type: 'delete', reason: `no longer desired and marked prunable${was}` });
  }
  return actions;
}

/**
 * Volumes are node-local: this sees the volumes of the node the agent runs on. The container
 * list is read only when there is a candidate, so a run without prunable volumes costs one call.
 */
export function volumePruneStep(docker: Docker, dependsOn: string[], opts: { model: DockerModelOf; beforeRemoval?: VolumeRemovalHook }): Step<VolumePruneLive> {
  return {
    kind: 'volume-prune',
    dependsOn,
    async observe(ctx) {
      const { label } = ownedFilter(ctx.spec.cluster.name);
      const filters = JSON.stringify({ label: [...label, `${LABEL_VOLUME_PRUNABLE}=true`] });
      const raw = await dockerRequest<RawVolumes>(docker, { method: 'GET', path: '/volumes', query: { filters }, signal: ctx.signal });
      const desired = opts.model(ctx.spec, ctx).volumeNames;
      const volumes = (raw.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
      if (!volumes.some((v) => !desired.has(v.name))) return { volumes, inUse: new Set() };
      const containers = await dockerRequest<RawContainer[]>(docker, { method: 'GET', path: '/containers/json', query: { all: true }, signal: ctx.signal });
      const inUse = new Set(containers.flatMap((c) => (c.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!)));
      return { volumes, inUse };
    },
    plan: (spec, live, ctx) => planVolumePrune(spec.cluster.name, opts.model(spec, ctx).volumeNames, live),
    async apply(action, ctx) {
      const volume = action.payload as LiveVolume;
      const path = `/volumes/${encodeURIComponent(volume.name)}`;
      if (!opts.beforeRemoval || volume.labels[LABEL_VOLUME_BACKUP] !== 'true') {
        await dockerRequest(docker, { method: 'DELETE', path, signal: ctx.signal });
        return;
      }
      await opts.beforeRemoval(volume, ctx.signal);
      // The snapshot job's container goes away shortly after its service: retry while in use.
      for (let attempt = 0; ; attempt++) {
        try {
          await dockerRequest(docker, { method: 'DELETE', path, signal: ctx.signal });
          return;
        } catch (err) {
          if (attempt >= 50 || !isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API') || Number(err.params.status) !== 409) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}
