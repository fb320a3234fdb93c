/**
 * Doc comments of a BPF C source, the way eunomia-bpf's ecc reads them: a run of `///`
 * lines describes the declaration that follows it.
 *
 *   /// Only trace this process
 *   const volatile int targ_pid = 0;          -> description of variable targ_pid
 *
 *   /// @cmdarg {"long": "pid", "short": "p"}  -> cmdarg of the variable (JSON)
 *   /// @description "Process to trace"        -> description (JSON string or plain text)
 *
 *   /// @sample {"interval": 1000, "type": "log2_hist", "unit": "usecs"}
 *   struct { ... } hists SEC(".maps");        -> sample config of map hists
 *
 *   /// @intepreter {"stack_trace": {"with_symbols": true}}
 *   struct { ... } events SEC(".maps");       -> the map's records are stack samples
 *
 *   /// @tchook {"ifindex": 1, "attach_point": "BPF_TC_INGRESS"}
 *   /// @tcopts {"handle": 1, "priority": 1}
 *   SEC("tc") int tc_ingress(...) { ... }     -> attach parameters of program tc_ingress
 *                                                (also @ifindex, @flags, @xdpopts for xdp)
 *
 * Pure text work: the names found are matched against the object's variables and maps
 * by the caller.
 */
import { TsbpfError } from '../errors.js';
import type { BpfSkel, MapEntry, VariableEntry } from '../package/index.js';

export interface DocComment {
  description?: string;
  cmdarg?: VariableEntry['cmdarg'];
  sample?: MapEntry['sample'];
  /** A map's `intepreter` (eunomia's spelling), e.g. {"stack_trace": {"with_symbols": true}}. */
  interpreter?: unknown;
  /** A program's attach parameters, as ecc copies them into its progs entry: ifindex, flags, xdpopts, tchook, tcopts. */
  attach?: Record<string, unknown>;
  /** The package's own tags, on the comment above LICENSE: @brief, @version, @details. */
  packageTags?: { brief?: string; version?: string; details?: string };
}

/** Tags ecc reads on a program function, and whether each holds JSON (else an integer). */
const PROGRAM_TAGS: Record<string, 'int' | 'object'> = { ifindex: 'int', flags: 'int', xdpopts: 'object', tchook: 'object', tcopts: 'object' };

/** Declared name -> its doc comment. `file` names the source in error messages. */
export function parseDocComments(text: string, file = 'source'): Map<string, DocComment> {
  const lines = text.split('\n');
  const docs = new Map<string, DocComment>();
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\/\/\//.test(lines[i]!)) continue;
    const first = i;
    const block: string[] = [];
    while (i < lines.length && /^\s*\/\/\//.test(lines[i]!)) block.push(lines[i++]!.replace(/^\s*\/\/\/\s?/, ''));
    const name = declaredName(lines, i);
    if (!name) continue;
    docs.set(name, parseBlock(block, `${file}:${first + 1}`));
    i--;
  }
  return docs;
}

/**
 * The name declared by the statement starting at line `from`: `} NAME SEC(".maps");` for a
 * map, the last identifier before `=`, `[` or `;` for a variable. Undefined for anything
 * else (a function, a struct definition, a macro).
 */
function declaredName(lines: string[], from: number): string | undefined {
  let stmt = '';
  let depth = 0;
  for (let i = from; i < lines.length && i < from + 200; i++) {
    const line = lines[i]!.replace(/\/\/.*$/, '');
    if (!stmt && /^\s*(#|$)/.test(line)) return undefined;
    for (const c of line) {
      // `) {` outside braces: a function body; its name is a program's (the name BPF_PROG
      // and friends take first, or the identifier before the parameter list).
      if (c === '{' && depth === 0 && /\)\s*$/.test(stmt)) return functionName(stmt);
      if (c === '{') depth++;
      else if (c === '}') depth--;
      stmt += c;
      if (c === ';' && depth === 0) {
        const map = /\}\s*([A-Za-z_]\w*)\s*SEC\s*\(\s*"\.maps"\s*\)\s*;$/.exec(stmt);
        if (map) return map[1];
        if (/\)\s*;$/.test(stmt) && !/=/.test(stmt)) return undefined; // a prototype
        const v = /([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?:__attribute__\s*\(\(.*\)\)\s*|SEC\s*\([^)]*\)\s*)*(?:=[\s\S]*)?;$/.exec(stmt);
        return v?.[1];
      }
    }
    stmt += '\n';
  }
  return undefined;
}

function functionName(stmt: string): string | undefined {
  const bare = stmt.replace(/SEC\s*\(\s*"[^"]*"\s*\)/g, ' ').replace(/__attribute__\s*\(\(.*?\)\)/g, ' ');
  const macro = /\bBPF_(?:PROG2?|KPROBE|KRETPROBE|KSYSCALL|KRETSYSCALL|UPROBE|URETPROBE|USDT)\s*\(\s*([A-Za-z_]\w*)/.exec(bare);
  if (macro) return macro[1];
  return /([A-Za-z_]\w*)\s*\(/.exec(bare)?.[1];
}

function parseBlock(block: string[], where: string): DocComment {
  const doc: DocComment = {};
  const plain: string[] = [];
  // A tag's JSON may run over several lines: collect until the next tag.
  const tags: { tag: string; text: string }[] = [];
  for (const line of block) {
    const m = /^@(\w+)\s*(.*)$/.exec(line.trim());
    if (m) tags.push({ tag: m[1]!, text: m[2]! });
    else if (tags.length) tags[tags.length - 1]!.text += '\n' + line;
    else plain.push(line.trim());
  }
  if (plain.some(Boolean)) doc.description = plain.join(' ').trim();
  for (const { tag, text } of tags) {
    switch (tag) {
      case 'description':
        doc.description = jsonOr(text.trim(), where, tag, (v) => (typeof v === 'string' ? v : undefined)) ?? text.trim();
        break;
      case 'cmdarg': {
        const v = json(text, where, tag);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TsbpfError(`${where}: @cmdarg needs a JSON object`);
        doc.cmdarg = v as DocComment['cmdarg'];
        break;
      }
      case 'sample': {
        const v = json(text, where, tag) as Record<string, unknown>;
        if (typeof v !== 'object' || v === null || typeof v.interval !== 'number' || typeof v.type !== 'string') {
          throw new TsbpfError(`${where}: @sample needs a JSON object with a numeric "interval" (ms) and a "type" (log2_hist, linear_hist or default_kv)`);
        }
        doc.sample = v as MapEntry['sample'];
        break;
      }
      case 'intepreter':
      case 'interpreter': {
        const v = jsonOr(text.trim(), where, tag, (x) => x) ?? text.trim();
        doc.interpreter = v;
        break;
      }
      default: {
        const kind = PROGRAM_TAGS[tag];
        if (kind === 'int') {
          const t = text.trim();
          if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new TsbpfError(`${where}: @${tag} needs an unsigned integer, not "${t}"`);
          doc.attach = { ...doc.attach, [tag]: Number(t) };
        } else if (kind === 'object') {
          const v = json(text, where, tag);
          if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TsbpfError(`${where}: @${tag} needs a JSON object`);
          doc.attach = { ...doc.attach, [tag]: v };
        }
        else if (tag === 'brief' || tag === 'version' || tag === 'details') doc.packageTags = { ...doc.packageTags, [tag]: text.trim() };
        // Other tags are kept by no one (ecc ignores them too).
        break;
      }
    }
  }
  return doc;
}

function json(text: string, where: string, tag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TsbpfError(`${where}: @${tag} is not valid JSON: ${(e as Error).message}`);
  }
}

function jsonOr<T>(text: string, where: string, tag: string, pick: (v: unknown) => T | undefined): T | undefined {
  if (!/^["{[]/.test(text)) return undefined;
  return pick(json(text, where, tag));
}

/** Writes the doc comments into a package's variables (description, cmdarg) and maps (sample). */
export function applyDocComments(skel: BpfSkel, docs: Map<string, DocComment>): void {
  for (const section of skel.data_sections) {
    for (const v of section.variables) {
      const d = docs.get(v.name);
      if (d?.description !== undefined) v.description = d.description;
      if (d?.cmdarg !== undefined) v.cmdarg = d.cmdarg;
    }
  }
  for (const m of skel.maps) {
    const d = docs.get(m.ident);
    if (d?.sample !== undefined && !m.mmaped) m.sample = d.sample;
    if (d?.interpreter !== undefined && !m.mmaped) m.intepreter = d.interpreter;
  }
  for (const p of skel.progs) {
    const d = docs.get(p.name);
    if (d?.attach) Object.assign(p, d.attach);
    if (d?.description !== undefined) p.description = d.description;
  }
  // The comment above `char LICENSE[]` documents the package (`tsbpf run -h` shows it).
  const pkg = docs.get('LICENSE');
  if (pkg && (pkg.description !== undefined || pkg.packageTags)) {
    skel.doc = { ...skel.doc, ...(pkg.description !== undefined ? { description: pkg.description } : {}), ...pkg.packageTags };
  }
}
