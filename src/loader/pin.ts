/**
 * Pinning an fd-holding object (map, program, link) on a bpffs, and remembering where:
 * the one place BPF_OBJ_PIN's errors are explained and pin()/unpin() keep their state.
 */
import { unlinkSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { SysError } from '../sys/errors.js';
import type { Sys } from '../sys/types.js';

/** Where one object is pinned (undefined: nowhere). `what` names it in errors. */
export class PinState {
  path?: string;

  pin(sys: Sys, fd: number, path: string, what: string): void {
    if (this.path === path) return;
    pinObject(sys, fd, path, what);
    this.path = path;
  }

  unpin(what: string): void {
    if (!this.path) throw new TsbpfError(`${what} is not pinned`);
    unpinPath(this.path, what);
    this.path = undefined;
  }
}

export function pinObject(sys: Sys, fd: number, path: string, what: string): void {
  try {
    sys.objPin(fd, path);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    const why = e.code === 'EEXIST' ? 'something is already pinned there (remove it first)'
      : e.code === 'EPERM' || e.code === 'EINVAL' ? `is it on a bpffs (mount -t bpf bpf DIR)? ${e.message}`
      : e.code === 'ENOENT' ? 'its directory does not exist' : e.message;
    throw new TsbpfError(`cannot pin ${what} at ${path}: ${why}`);
  }
}

/** Removes a pin (a file on bpffs); the object lives on while anything holds it. */
export function unpinPath(path: string, what: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    throw new TsbpfError(`cannot unpin ${what} at ${path}: ${(e as Error).message}`);
  }
}
