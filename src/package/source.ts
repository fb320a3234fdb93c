/**
 * Where `tsbpf run` takes a package or object from, as ecli does: a file, `-` (standard
 * input) or an http(s) URL. The bytes are read whole, up to a limit, before anything else.
 */
import { readUserFile } from '../files.js';
import { TsbpfError } from '../errors.js';

/** More than any BPF package we know of; a bound so a wrong URL or pipe cannot fill memory. */
export const MAX_SOURCE_BYTES = 256 << 20;
const FETCH_TIMEOUT_MS = 30_000;

export interface Source {
  bytes: Buffer;
  /** What to call it in messages and what object names derive from: the file or URL path. */
  name: string;
}

export async function readSource(where: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Source> {
  if (where === '-') return { bytes: await readAll(stdin, 'standard input'), name: 'stdin' };
  if (/^https?:\/\//i.test(where)) return { bytes: await fetchBytes(where), name: new URL(where).pathname.split('/').pop() || 'package.json' };
  return { bytes: readUserFile(where), name: where };
}

async function readAll(stream: NodeJS.ReadableStream, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    n += b.length;
    if (n > MAX_SOURCE_BYTES) throw new TsbpfError(`${what}: more than ${MAX_SOURCE_BYTES >> 20} MiB, not a package`);
    chunks.push(b);
  }
  if (n === 0) throw new TsbpfError(`${what} is empty: pipe a package.json or .bpf.o into tsbpf run -`);
  return Buffer.concat(chunks);
}

async function fetchBytes(url: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'follow' });
  } catch (e) {
    const err = e as Error & { cause?: Error };
    const why = err.name === 'TimeoutError' ? `no answer in ${FETCH_TIMEOUT_MS / 1000} s` : (err.cause?.message ?? err.message);
    throw new TsbpfError(`cannot fetch ${url}: ${why}`);
  }
  if (!res.ok) throw new TsbpfError(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_SOURCE_BYTES) throw new TsbpfError(`${url}: ${length} bytes, more than ${MAX_SOURCE_BYTES >> 20} MiB, not a package`);
  if (!res.body) throw new TsbpfError(`${url}: empty response`);
  return readAll(res.body as unknown as NodeJS.ReadableStream, url);
}
