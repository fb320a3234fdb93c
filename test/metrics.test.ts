/**
 * `tsbpf exitsnoop --metrics` against real processes and a real Prometheus (Debian's
 * prometheus, installed by `scripts/setup.sh --test`): Prometheus scrapes the endpoint every
 * second, known children exit (codes, a signal, a known lifetime), and its HTTP API must show
 * exactly those counts. Also: the label-set cap under 10,000 distinct names, 1,000
 * concurrent scrapes during a burst of exits, and malformed requests.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshCgroup } from './cgroups.js';
import { exitcases, EXITCASES_COMM } from './exitcases.js';
import { kernelTest } from './kernel.js';
import { buildExample, start, stop, type Running } from './tsbpf-cli.js';

const READY = /Tracing process exits/;

/** exitsnoop with metrics on a free port of 127.0.0.1, no event output; its port. */
async function exporter(args: string[]): Promise<{ run: Running; port: number }> {
  const run = await start(['exitsnoop', '--metrics', '127.0.0.1:0', '-q', ...args], READY);
  const m = /Metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(run.err());
  assert.ok(m, `the endpoint's address on stderr: ${run.err()}`);
  return { run, port: Number(m[1]) };
}

/** tsbpf run PACKAGE with metrics on a free port, printing nothing; its port. */
async function runExporter(pkg: string, args: string[]): Promise<{ run: Running; port: number }> {
  const run = await start(['run', pkg, '--metrics', '127.0.0.1:0', '-q', ...args], /Ctrl-C to end/);
  const m = /metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(run.err());
  assert.ok(m, `the endpoint's address on stderr: ${run.err()}`);
  return { run, port: Number(m[1]) };
}

/** The samples of a text exposition: `name{labels}` -> value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    samples.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return samples;
}

function run(cmd: string, args: string[]): { pid: number; code: number | null; signal: NodeJS.Signals | null } {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error) throw r.error;
  return { pid: r.pid, code: r.status, signal: r.signal };
}

/** Polls `check` until it holds, or fails after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  for (const t0 = Date.now(); !(await check()); ) {
    assert.ok(Date.now() - t0 < ms, what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Prometheus scraping 127.0.0.1:`target` every second; resolves once it is ready. */
async function prometheus(target: number, t: { after: (fn: () => void | Promise<void>) => void }): Promise<{ query: (q: string) => Promise<{ metric: Record<string, string>; value: [number, string] }[]> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-prometheus-'));
  const port = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: tsbpf',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${target}']`,
    '',
  ].join('\n'));
  const proc: ChildProcess = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  t.after(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null || i > 300) throw new Error(`prometheus did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    async query(q: string) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      assert.equal(body.status, 'success', q);
      return body.data.result;
    },
  };
}

kernelTest('a real Prometheus scraping exitsnoop --metrics sees exactly the exits made: codes, a signal, lifetimes', async (t) => {
  const { run: ex, port } = await exporter(['-c', EXITCASES_COMM, '--ppid', String(process.pid)]);
  try {
    const prom = await prometheus(port, t);
    // Prometheus has the target up before anything exits, so every count starts from nothing.
    for (let i = 0; (await prom.query('up{job="tsbpf"} == 1')).length === 0; i++) {
      assert.ok(i < 100, 'Prometheus never scraped the endpoint');
      await new Promise((r) => setTimeout(r, 100));
    }
    const made = [
      run(exitcases(), ['code', '0']),
      run(exitcases(), ['code', '0']),
      run(exitcases(), ['code', '3']),
      run(exitcases(), ['code', '3']),
      run(exitcases(), ['code', '3']),
      run(exitcases(), ['code', '127']),
      run(exitcases(), ['signal', '9', 'nocore']),
      run(exitcases(), ['sleep', '1500']),
    ];
    assert.deepEqual(made.map((m) => m.code ?? m.signal), [0, 0, 3, 3, 3, 127, 'SIGKILL', 0]);
    const want = new Map([
      ['exited/0', 3],
      ['exited/1-125', 3],
      ['exited/127', 1],
      ['signaled/signal', 1],
    ]);
    const byClass = async () => new Map((await prom.query('sum by (reason, code_class) (tsbpf_exits_total)')).map((r) => [`${r.metric.reason}/${r.metric.code_class}`, Number(r.value[1])]));
    let got = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      got = await byClass();
      if ([...want].every(([k, v]) => got.get(k) === v)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(got, want, 'tsbpf_exits_total by reason and code class, as Prometheus stored it');
    const one = async (q: string) => {
      const r = await prom.query(q);
      assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
      return Number(r[0]!.value[1]);
    };
    assert.equal(await one('tsbpf_exit_signals_total{signal="SIGKILL"}'), 1);
    assert.deepEqual(await prom.query('tsbpf_exit_signals_total{signal!="SIGKILL"}'), []);
    assert.equal(await one('tsbpf_process_lifetime_seconds_count'), 8);
    // Seven lived well under a second, the sleeper 1.5 s: buckets 1 and 2.5 tell them apart.
    assert.equal(await one('tsbpf_process_lifetime_seconds_bucket{le="1"}'), 7);
    assert.equal(await one('tsbpf_process_lifetime_seconds_bucket{le="2.5"}'), 8);
    assert.equal(await one('tsbpf_process_lifetime_seconds_bucket{le="+Inf"}'), 8);
    const sum = await one('tsbpf_process_lifetime_seconds_sum');
    assert.ok(sum >= 1.5 && sum < 3, `lifetime sum ${sum} s: the sleeper's 1.5 s and seven short lives`);
    assert.equal(await one('tsbpf_events_lost_total'), 0);
    assert.ok((await one('process_cpu_seconds_total{job="tsbpf"}')) > 0, 'the exporter\'s own process metrics');
  } finally {
    assert.equal(await stop(ex.proc), 0, ex.err());
  }
});

kernelTest('10,000 distinct names with --metrics-labels comm: the label sets stay at the cap, the rest count as "other"', async (t) => {
  const cg = freshCgroup(t);
  const { run: ex, port } = await exporter(['--cgroup', cg.dir, '--metrics-labels', 'comm', '--metrics-max-label-sets', '100']);
  try {
    const r = spawnSync('/bin/sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec ${exitcases()} names 10000 n`], { encoding: 'utf8' });
    assert.equal(r.stdout, '10000\n', r.stderr);
    let s = new Map<string, number>();
    const total = () => [...s].filter(([k]) => k.startsWith('tsbpf_exits_total{')).reduce((a, [, v]) => a + v, 0);
    for (let i = 0; i < 200 && total() < 10001; i++) {
      await new Promise((res) => setTimeout(res, 50));
      s = await scrape(port);
    }
    // 10,000 children and the program that forked them, all in the cgroup.
    assert.equal(total(), 10001);
    const comms = new Set([...s.keys()].filter((k) => k.startsWith('tsbpf_exits_total{')).map((k) => /comm="([^"]*)"/.exec(k)![1]));
    assert.equal(comms.size, 101, 'the cap of 100 label sets and "other"');
    assert.ok(comms.has('other'));
    assert.equal(s.get('tsbpf_exits_total{reason="exited",code_class="0",comm="other"}'), 10001 - 100);
    assert.equal(s.get('tsbpf_metric_label_overflow_total'), 10001 - 100);
    assert.equal(s.get('tsbpf_metric_label_sets'), 100);
    assert.equal(s.get('tsbpf_metric_label_sets_max'), 100);
    assert.equal(s.get('tsbpf_events_lost_total'), 0);
    const series = [...s.keys()].filter((k) => k.startsWith('tsbpf_process_lifetime_seconds_count{')).length;
    assert.equal(series, 101, 'one lifetime histogram per label set');
  } finally {
    assert.equal(await stop(ex.proc), 0, ex.err());
  }
});

/** One raw HTTP exchange: what the server answers to `request`, up to its first line. */
async function raw(port: number, request: string): Promise<string> {
  const sock = connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.end(request);
  let data = '';
  sock.setEncoding('utf8').on('data', (d) => (data += d));
  await once(sock, 'close');
  return data.split('\r\n')[0]!;
}

kernelTest('the endpoint takes 1,000 concurrent scrapes during a burst of exits and loses none; bad requests get 4xx', async (t) => {
  const cg = freshCgroup(t);
  const { run: ex, port } = await exporter(['--cgroup', cg.dir]);
  try {
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.equal(await raw(port, 'GARBAGE\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
    assert.equal(await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.equal(await raw(port, 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 405 Method Not Allowed');
    assert.equal(await raw(port, 'GET /nosuch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 404 Not Found');
    const burst = spawn('/bin/sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec ${exitcases()} forkloop 3000`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ended = once(burst, 'exit'); // before the scrapes: the burst may well end during them
    const scrapes = await Promise.all(Array.from({ length: 1000 }, () => fetch(`http://127.0.0.1:${port}/metrics`).then(async (r) => [r.status, (await r.text()).includes('tsbpf_exits_total')] as const)));
    assert.deepEqual(new Set(scrapes.map((s) => `${s[0]} ${s[1]}`)), new Set(['200 true']), 'every scrape answered in full');
    const [code] = await ended;
    assert.equal(code, 0);
    let s = new Map<string, number>();
    const total = () => s.get('tsbpf_exits_total{reason="exited",code_class="0"}') ?? 0;
    for (let i = 0; i < 100 && total() < 3001; i++) {
      await new Promise((res) => setTimeout(res, 50));
      s = await scrape(port);
    }
    assert.equal(total(), 3001, 'every exit of the burst (and its parent) counted');
    assert.equal(s.get('tsbpf_events_lost_total'), 0);
  } finally {
    assert.equal(await stop(ex.proc), 0, ex.err());
  }
});

kernelTest('a real Prometheus scraping tsbpf run --metrics sees a log2_hist package as histograms: each key its bucket', async (t) => {
  const ex = buildExample('histogram', t);
  const cfg = join(ex.dir, 'metrics.json');
  writeFileSync(cfg, JSON.stringify({ maps: { hists: { labels: ['pid'] } } }));
  const { run: r, port } = await runExporter(ex.package, ['--metrics-config', cfg]);
  try {
    const prom = await prometheus(port, t);
    await until(async () => (await prom.query('up{job="tsbpf"} == 1')).length > 0, 'Prometheus never scraped the endpoint');
    const sleeper = async (s: string) => {
      const p = spawn('/bin/sleep', [s]);
      await once(p, 'exit');
      return p.pid!;
    };
    // 45 ms is in log2 slot 15 (32768..65535 us), 300 ms in slot 18 (262144..524287 us).
    const short = await sleeper('0.045');
    const long = await sleeper('0.3');
    const bucket = async (pid: number, le: string) => {
      const res = await prom.query(`tsbpf_hists_bucket{pid="${pid}",comm="sleep",le="${le}"}`);
      return res.length === 1 ? Number(res[0]!.value[1]) : undefined;
    };
    await until(async () => (await bucket(short, '65535')) === 1 && (await bucket(long, '524287')) === 1, 'both sleeps in Prometheus');
    assert.equal(await bucket(short, '32767'), 0);
    assert.equal(await bucket(short, '+Inf'), 1);
    assert.equal(await bucket(long, '262143'), 0);
    assert.equal(await bucket(long, '+Inf'), 1);
    const count = await prom.query(`tsbpf_hists_count{pid=~"${short}|${long}"}`);
    assert.deepEqual(count.map((c) => [Number(c.metric.pid), Number(c.value[1])]).sort((a, b) => a[0]! - b[0]!), [[short, 1], [long, 1]].sort((a, b) => a[0]! - b[0]!));
    const sum = await prom.query(`tsbpf_hists_sum{pid="${long}"}`);
    assert.equal(Number(sum[0]!.value[1]), 262144, 'the sum of the slots\' lower bounds');
  } finally {
    assert.equal(await stop(r.proc), 0, r.err());
  }
});

kernelTest('tsbpf run --metrics counts exported events, and by field values as the config asks', async (t) => {
  const ex = buildExample('filter', t);
  const cfg = join(ex.dir, 'metrics.json');
  writeFileSync(cfg, JSON.stringify({ events: [{ name: 'exits_by_code', labels: ['exit_code'] }] }));
  const { run: r, port } = await runExporter(ex.package, ['--metrics-config', cfg, '--', '--target_ppid', String(process.pid)]);
  try {
    for (const code of [3, 3, 4]) {
      const p = spawn('/bin/sh', ['-c', `exit ${code}`]);
      await once(p, 'exit');
    }
    let s = new Map<string, number>();
    await until(async () => (s = await scrape(port)).get('tsbpf_exits_by_code_total{exit_code="4"}') === 1, 'the events counted');
    assert.equal(s.get('tsbpf_exits_by_code_total{exit_code="3"}'), 2);
    assert.equal(s.get('tsbpf_events_total{map="events",type="event"}'), 3);
    assert.equal(r.out(), '', '-q: nothing printed');
  } finally {
    assert.equal(await stop(r.proc), 0, r.err());
  }
});

kernelTest('--metrics-labels container,pod: exits in a pod\'s container carry its short id and pod UID', async (t) => {
  const id = 'fe11ed'.padEnd(64, '3');
  const uid = '11111111-2222-3333-4444-555555555555';
  const pod = `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`;
  const parts = pod.split('/');
  const cg = freshCgroup(t, [...parts.map((_, i) => parts.slice(0, i + 1).join('/')), `${pod}/crio-${id}.scope`]);
  const dir = join(cg.dir, pod, `crio-${id}.scope`);
  const { run: ex, port } = await exporter(['--cgroup', cg.dir, '--metrics-labels', 'container,pod']);
  try {
    for (const code of [0, 2]) spawnSync('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec ${exitcases()} code ${code}`]);
    let s = new Map<string, number>();
    const key = (klass: string) => `tsbpf_exits_total{reason="exited",code_class="${klass}",container="${id.slice(0, 12)}",pod="${uid}"}`;
    await until(async () => (s = await scrape(port)).get(key('1-125')) === 1, `${key('1-125')} in the metrics`);
    assert.equal(s.get(key('0')), 1);
    assert.equal(s.get(`tsbpf_process_lifetime_seconds_count{container="${id.slice(0, 12)}",pod="${uid}"}`), 2);
  } finally {
    assert.equal(await stop(ex.proc), 0, ex.err());
  }
});

kernelTest('tsbpf run --metrics reads a hash map of integers at every scrape as the config says: a counter, the key as a label', async (t) => {
  const ex = buildExample('test/progs/exec_counts', t);
  const cfg = join(ex.dir, 'metrics.json');
  writeFileSync(cfg, JSON.stringify({ maps: { counts: { type: 'counter', labels: ['ppid'] } } }));
  const { run: r, port } = await runExporter(ex.package, ['--metrics-config', cfg]);
  try {
    for (let i = 0; i < 5; i++) spawnSync('/bin/true');
    let s = new Map<string, number>();
    const key = `tsbpf_counts{ppid="${process.pid}"}`;
    await until(async () => (s = await scrape(port)).get(key) === 5, `${key} = 5 (got ${s.get(key)})`);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.match(await res.text(), /^# TYPE tsbpf_counts counter$/m);
  } finally {
    assert.equal(await stop(r.proc), 0, r.err());
  }
});
