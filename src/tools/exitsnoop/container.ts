/**
 * Which container (and Kubernetes pod) a cgroup v2 path belongs to, read from the names
 * container runtimes give their cgroups, as Inspektor Gadget and cAdvisor read them:
 *
 *   systemd driver:  .../docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope,
 *                    libpod-<id>.scope (podman, rootful and rootless)
 *   cgroupfs driver: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /libpod_parent/libpod-<id>
 *   Kubernetes:      kubepods[-<qos>].slice/kubepods-<qos>-pod<uid>.slice (uid with '_' for '-'),
 *                    or /kubepods[/<qos>]/pod<uid>; no QoS level in the path is Guaranteed.
 *
 * containerOf is pure string work, tested on names alone and on real cgroups alike.
 */

import { readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

export interface ContainerIdentity {
  /** The container id (64 hex digits as runtimes make them), null outside containers. */
  id: string | null;
  /** docker, containerd, cri-o or podman; null when no container is named. */
  runtime: string | null;
  /** The Kubernetes pod's UID (with dashes), null outside pods. */
  podUid: string | null;
  /** guaranteed, burstable or besteffort; null outside pods. */
  podQos: string | null;
}

const NONE: ContainerIdentity = { id: null, runtime: null, podUid: null, podQos: null };

/** Scope prefixes of the systemd cgroup driver, by runtime. */
const SCOPES: [RegExp, string][] = [
  [/^docker-([0-9a-f]{12,64})\.scope$/, 'docker'],
  [/^cri-containerd-([0-9a-f]{12,64})\.scope$/, 'containerd'],
  [/^crio-([0-9a-f]{12,64})\.scope$/, 'cri-o'],
  [/^libpod-([0-9a-f]{12,64})\.scope$/, 'podman'],
];

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The container and pod of the cgroup at `path` (relative to the cgroup2 mount). */
export function containerOf(path: string | null): ContainerIdentity {
  if (!path) return NONE;
  const parts = path.split('/').filter(Boolean);
  let id: string | null = null;
  let runtime: string | null = null;
  let podUid: string | null = null;
  let podQos: string | null = null;
  let inKubepods = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    // The innermost container scope wins (a container's own sub-cgroups sit below it).
    for (const [re, rt] of SCOPES) {
      const m = re.exec(p);
      if (m) {
        id = m[1]!;
        runtime = rt;
      }
    }
    if (p === 'kubepods' || p === 'kubepods.slice') inKubepods = true;
    if (!inKubepods) {
      // cgroupfs driver: /docker/<id>, /libpod_parent/libpod-<id>
      if (parts[i - 1] === 'docker' && /^[0-9a-f]{64}$/.test(p)) [id, runtime] = [p, 'docker'];
      if (parts[i - 1] === 'libpod_parent' && /^libpod-[0-9a-f]{64}$/.test(p)) [id, runtime] = [p.slice(7), 'podman'];
      continue;
    }
    const slice = /^kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{36})\.slice$/.exec(p);
    const dir = /^pod([0-9a-f-]{36})$/.exec(p);
    if (slice || dir) {
      const uid = slice ? slice[2]!.replace(/_/g, '-') : dir![1]!;
      if (UID.test(uid)) {
        podUid = uid;
        podQos = slice ? (slice[1] ?? 'guaranteed') : parts[i - 1] === 'besteffort' || parts[i - 1] === 'burstable' ? parts[i - 1]! : 'guaranteed';
      }
      continue;
    }
    // cgroupfs driver: the container's directory is its bare id, below the pod's.
    if (podUid && /^[0-9a-f]{64}$/.test(p)) {
      id = p;
    }
  }
  return { id, runtime, podUid, podQos };
}

/** True when `want` names this container: its full id or a prefix of it (docker's 12-digit short ids). */
export function matchesContainer(c: ContainerIdentity, want: string): boolean {
  return !!c.id && want.length > 0 && c.id.startsWith(want.toLowerCase());
}

/** A cgroup's path and the container it names, by cgroup id (cached: one parse per cgroup). */
export interface CgroupInfo {
  path: string | null;
  container: ContainerIdentity;
}

export class CgroupIdentities {
  private readonly cache = new Map<bigint, CgroupInfo>();

  constructor(private readonly paths: { path(id: bigint): string | null }) {}

  info(id: bigint): CgroupInfo {
    const known = this.cache.get(id);
    if (known) return known;
    const path = this.paths.path(id);
    const info = { path, container: containerOf(path) };
    // Unknown ids are asked again later (the walk is rate-limited by CgroupPaths).
    if (path !== null) {
      if (this.cache.size >= 65536) this.cache.clear();
      this.cache.set(id, info);
    }
    return info;
  }
}

/**
 * The cgroup directory of a running container (its id or an id prefix) or pod (its UID),
 * for the kernel-side cgroup filter: the outermost directory the name matches, found by a
 * breadth-first walk of the cgroup2 hierarchy. Undefined when there is none.
 */
export function findContainerCgroup(mount: string, want: { container?: string; pod?: string }): string | undefined {
  let level = [mount];
  for (let depth = 0; level.length && depth <= 32; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      const rel = dir === mount ? '/' : dir.slice(mount.length);
      const c = containerOf(rel);
      if (want.pod !== undefined && c.podUid === want.pod.toLowerCase()) return dir;
      if (want.container !== undefined && matchesContainer(c, want.container)) return dir;
      let entries: Dirent[] = [];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        // removed while we walk
      }
      for (const d of entries) if (d.isDirectory()) next.push(join(dir, d.name));
    }
    level = next;
  }
  return undefined;
}
