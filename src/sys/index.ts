/**
 * sys/: the only module that talks to the kernel. Everything above it receives a `Sys`
 * (usually `defaultSys()`, a `FakeSys` in unit tests).
 */
import { LinuxSys } from './linux.js';
import type { Sys } from './types.js';

export * from './constants.js';
export * from './errors.js';
export type * from './types.js';
export { LinuxSys, parseCpuList } from './linux.js';
export { FakeSys, type FakeCall, type FakeSysOptions, type SysMethod } from './fake.js';

let shared: LinuxSys | undefined;

/** The process-wide real kernel interface, created (and koffi loaded) on first use. */
export function defaultSys(): Sys {
  shared ??= new LinuxSys();
  return shared;
}
