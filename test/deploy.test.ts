/**
 * deploy/: the DaemonSet passes only flags the CLI has (and they run, here, as given), its
 * ports and probes agree, it asks for capabilities rather than privilege; the image recipe
 * ships what package.json ships and installs what deploy/README.md says, with no compiler.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { start, stop, tsbpf } from './tsbpf-cli.js';

interface Container {
  args: string[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[]; add: string[] } };
  volumeMounts: { name: string; mountPath: string }[];
  resources: { limits: Record<string, string>; requests: Record<string, string> };
}

function daemonSet() {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml'), 'utf8')).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === 'DaemonSet');
  assert.ok(ds, 'a DaemonSet in daemonset.yaml');
  const pod = ds.spec.template;
  return { ds, pod, container: pod.spec.containers[0] as Container };
}

test('the DaemonSet passes flags tsbpf exitsnoop has; ports, probes, annotations and mounts agree; capabilities, not privilege', () => {
  const { pod, container } = daemonSet();
  assert.equal(container.args[0], 'exitsnoop');
  const help = tsbpf(['exitsnoop', '--help']);
  assert.equal(help.status, 0);
  const flags = container.args.filter((a) => a.startsWith('-'));
  assert.ok(flags.length >= 3);
  for (const f of flags) assert.match(help.stdout, new RegExp(`(^|[ ,])${f}\\b`, 'm'), `${f} is an option of tsbpf exitsnoop`);
  const port = Number(container.args[container.args.indexOf('--metrics') + 1]!.replace(/^.*:/, ''));
  assert.equal(container.ports[0]!.containerPort, port);
  assert.equal(pod.metadata.annotations['prometheus.io/port'], String(port));
  assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true');
  for (const probe of [container.readinessProbe, container.livenessProbe]) assert.deepEqual(probe.httpGet, { path: '/healthz', port: container.ports[0]!.name });
  assert.equal(pod.spec.hostPID, true);
  const sc = container.securityContext;
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual(new Set(sc.capabilities.add), new Set(['BPF', 'PERFMON', 'SYS_RESOURCE']));
  assert.deepEqual(new Set(container.volumeMounts.map((m) => m.mountPath)), new Set(['/sys/kernel/tracing', '/sys/fs/cgroup', '/sys/fs/bpf']));
  assert.ok(container.resources.limits.cpu && container.resources.limits.memory);
  const pm = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'podmonitor.yaml'), 'utf8'))[0]!.toJS();
  assert.equal(pm.kind, 'PodMonitor');
  assert.equal(pm.spec.podMetricsEndpoints[0].port, container.ports[0]!.name);
  assert.deepEqual(pm.spec.selector.matchLabels, pod.metadata.labels);
});

kernelTest('the DaemonSet\'s arguments run as given: metrics served, JSON lines out', async () => {
  const { container } = daemonSet();
  const args = container.args.map((a, i, all) => (all[i - 1] === '--metrics' ? '127.0.0.1:0' : a));
  const run = await start(args, /Tracing process exits/);
  try {
    const m = /Metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(run.err());
    assert.ok(m, run.err());
    assert.equal((await fetch(`http://127.0.0.1:${m[1]}/healthz`)).status, 200);
    assert.match(await (await fetch(`http://127.0.0.1:${m[1]}/metrics`)).text(), /^# TYPE tsbpf_exits_total counter$/m);
  } finally {
    assert.equal(await stop(run.proc), 0, run.err());
  }
  for (const line of run.out().split('\n').filter(Boolean)) assert.equal((JSON.parse(line) as { type: string }).type, 'exit');
});

test('the image ships what package.json ships, installs its runtime dependencies as deploy/README.md lists them, and no compiler', () => {
  const docker = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
  const stages = docker.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1)!;
  const copied = [...runtime.matchAll(/^COPY (?:--from=build \/src\/)?(\S+) (\S+)$/gm)].map((m) => m[1]!);
  for (const f of pkg.files) assert.ok(copied.includes(f), `the image has ${f} (package.json "files")`);
  assert.match(runtime, /^RUN npm ci --omit=dev\b/m, 'production dependencies only');
  assert.doesNotMatch(docker, /apt-get|clang|gcc|llvm/, 'no compiler, no packages beyond the Node image');
  for (const m of docker.matchAll(/^COPY (?!--from)(\S+(?: \S+)*) \S+$/gm)) {
    for (const src of m[1]!.split(' ')) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: it exists in the repository`);
  }
  const readme = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
  const listed = /the npm runtime dependencies \(([^)]*)\)/.exec(readme);
  assert.ok(listed, 'deploy/README.md lists the runtime dependencies');
  assert.deepEqual(listed[1]!.split(',').map((s) => s.trim().replace(/`/g, '')).sort(), Object.keys(pkg.dependencies).sort());
  assert.ok(existsSync(join(ROOT, 'tools', 'exitsnoop', 'exitsnoop.bpf.o')), 'the committed object the image runs');
});
