/**
 * Who applies a program's CO-RE relocations: the kernel (BPF_PROG_LOAD's core_relos,
 * Linux >= 5.17) or tsbpf itself (btf/core.ts) against a target BTF, for older kernels,
 * for kernels without /sys/kernel/btf/vmlinux (a BTF file), or when asked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kernelBtf, parseBtf, type Btf } from '../btf/index.js';
import { applyCoreRelocations, coreKindName, POISON_HELPER, type CandidateCache, type CoreOutcome, type CoreTarget } from '../btf/core.js';
import { NotSupportedError, TsbpfError } from '../errors.js';
import type { LinkedProgram } from '../object/index.js';
import type { Sys } from '../sys/types.js';
import { haveKernelCoreRelos } from './probe.js';
import { quoted } from '../text.js';

/**
 * 'auto' (default): the kernel's CO-RE where it has it, else tsbpf's; a target BTF
 * (option or BTF_FILE_PATH) always means tsbpf's. 'kernel': the kernel's only.
 * 'user': tsbpf's on any kernel.
 */
export type CoreMode = 'auto' | 'kernel' | 'user';

export interface CoreLoadOptions {
  core?: CoreMode;
  /**
   * The BTF that describes the running kernel, for user-space CO-RE: a parsed Btf or a
   * file path (for kernels without /sys/kernel/btf/vmlinux, e.g. a BTFHub file). Default:
   * $BTF_FILE_PATH (eunomia's variable), else /sys/kernel/btf/vmlinux.
   */
  targetBtf?: Btf | string;
}

/**
 * The target BTF for user-space CO-RE, or undefined when the kernel is to do it. `who`
 * names the program (or object) in errors.
 */
export function userCoreTarget(sys: Sys, opts: CoreLoadOptions, who: string): (CoreTarget & { modules?: boolean }) | undefined {
  const mode = opts.core ?? 'auto';
  if (mode !== 'auto' && mode !== 'kernel' && mode !== 'user') {
    throw new TsbpfError(`core option must be 'auto', 'kernel' or 'user', not ${quoted(mode)}`);
  }
  const file = opts.targetBtf ?? (process.env.BTF_FILE_PATH || undefined);
  if (mode === 'kernel') {
    if (opts.targetBtf !== undefined) {
      throw new TsbpfError(`${who}: core 'kernel' cannot use a target BTF (the kernel relocates against its own); use core 'user' or 'auto'`);
    }
    if (!haveKernelCoreRelos(sys)) {
      throw new NotSupportedError('kernel-side CO-RE (Linux >= 5.17)', `${who}; use core 'user' or 'auto'`);
    }
    return undefined;
  }
  if (mode === 'auto' && file === undefined && haveKernelCoreRelos(sys)) return undefined;
  if (file === undefined) return { btf: kernelBtf(), name: 'vmlinux', modules: true };
  if (typeof file === 'string') return { btf: kernelBtf(file), name: file };
  return { btf: file, name: 'target BTF' };
}

/**
 * Applies the linked program's CO-RE relocations in user space when that is the mode,
 * and then drops the records so they are not sent to the kernel too.
 */
export function applyCore(
  sys: Sys, local: Btf, linked: LinkedProgram, program: string, opts: CoreLoadOptions,
): { outcomes: CoreOutcome[]; target: string } | undefined {
  if (linked.coreRelos.length === 0) return undefined;
  const target = userCoreTarget(sys, opts, `program ${program}`);
  if (!target) return undefined;
  const outcomes = applyCoreRelocations(program, local, linked.coreRelos, linked.insns, [target], {
    cache: cacheFor(local, target.btf),
    // The running kernel's modules hold types vmlinux lacks; a BTF file stands alone.
    moreTargets: target.modules ? () => moduleTargets(target.btf) : undefined,
  });
  linked.coreRelos = [];
  return { outcomes, target: target.name };
}

const MODULE_BTF_DIR = '/sys/kernel/btf';
let modules: { base: Btf; targets: CoreTarget[] } | undefined;

/**
 * The loaded modules' BTF (split on vmlinux), read once per process and only when a type
 * is not in vmlinux: each copy carries vmlinux's types and strings, so reading them all
 * up front would cost far more than most loads need. A module whose BTF cannot be read
 * offers no candidates (the relocation is then poisoned, naming the type).
 */
function moduleTargets(vmlinux: Btf): CoreTarget[] {
  if (modules?.base === vmlinux) return modules.targets;
  const targets: CoreTarget[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(MODULE_BTF_DIR).filter((n) => n !== 'vmlinux').sort();
  } catch {
    // No module BTF directory: vmlinux is all there is.
  }
  for (const name of names) {
    try {
      const btf = parseBtf(readFileSync(join(MODULE_BTF_DIR, name)), { base: vmlinux });
      targets.push({ btf, name, startId: btf.baseCount });
    } catch {
      continue;
    }
  }
  modules = { base: vmlinux, targets };
  return targets;
}

// Candidates per (object BTF, target BTF): the programs of one object share them, as
// libbpf's per-object cache does.
const caches = new WeakMap<Btf, WeakMap<Btf, CandidateCache>>();
function cacheFor(local: Btf, target: Btf): CandidateCache {
  let byTarget = caches.get(local);
  if (!byTarget) caches.set(local, (byTarget = new WeakMap()));
  let c = byTarget.get(target);
  if (!c) byTarget.set(target, (c = new Map()));
  return c;
}

const causes = new WeakMap<Error, string>();
/** The unresolved CO-RE relocation explainPoisoned found behind a verifier rejection, if any. */
export const coreCause = (err: Error): string | undefined => causes.get(err);

/**
 * When the verifier stopped at a poisoned instruction ("call unknown#195896080"), says
 * which CO-RE relocation it was: the one line a user needs, in front of the log.
 */
export function explainPoisoned<E extends Error & { log: string }>(err: E, outcomes: CoreOutcome[] | undefined, target?: string): E {
  if (!outcomes?.some((o) => o.poisoned)) return err;
  const m = new RegExp(`^(\\d+): \\(85\\) call unknown#${POISON_HELPER}\\b`, 'm').exec(err.log);
  const hit = m ? outcomes.find((o) => o.poisoned && o.insn === Number(m[1])) : undefined;
  if (!hit) return err;
  const [first, ...rest] = err.message.split('\n');
  const where = target ?? 'the target BTF';
  const what = hit.poisonReason === 'size'
    ? `reads a field whose size differs in ${where} (only unsigned integers and pointers can change size)`
    : `has no match in ${where}`;
  const why = `CO-RE relocation #${hit.index} (${coreKindName(hit.kind)} ${hit.spec}) at insn ${hit.insn} ${what}, and that instruction is reached`;
  causes.set(err, why);
  const line = first!.includes('; verifier log:') ? first!.replace('; verifier log:', `: ${why}; verifier log:`) : `${first}: ${why}`;
  err.message = [line, ...rest].join('\n');
  return err;
}
