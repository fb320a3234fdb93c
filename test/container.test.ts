/**
 * Container identity from cgroup paths as the runtimes and the kubelet name them (both
 * cgroup drivers), and the metrics' small pure parts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codeClass } from '../src/metrics/exits.js';
import { parseListenAddress } from '../src/metrics/server.js';
import { containerOf, matchesContainer } from '../src/tools/exitsnoop/container.js';

const ID = 'ab'.repeat(32);
const UID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const SUID = UID.replace(/-/g, '_');

test('container ids, runtimes, pod UIDs and QoS classes from cgroup paths', () => {
  const cases: [string | null, ReturnType<typeof containerOf>][] = [
    [null, { id: null, runtime: null, podUid: null, podQos: null }],
    ['/', { id: null, runtime: null, podUid: null, podQos: null }],
    ['/user.slice/user-1000.slice/session-2.scope', { id: null, runtime: null, podUid: null, podQos: null }],
    [`/system.slice/docker-${ID}.scope`, { id: ID, runtime: 'docker', podUid: null, podQos: null }],
    [`/docker/${ID}`, { id: ID, runtime: 'docker', podUid: null, podQos: null }],
    [`/machine.slice/libpod-${ID}.scope/container`, { id: ID, runtime: 'podman', podUid: null, podQos: null }],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, { id: ID, runtime: 'podman', podUid: null, podQos: null }],
    [`/libpod_parent/libpod-${ID}`, { id: ID, runtime: 'podman', podUid: null, podQos: null }],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SUID}.slice/cri-containerd-${ID}.scope`, { id: ID, runtime: 'containerd', podUid: UID, podQos: 'burstable' }],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SUID}.slice/crio-${ID}.scope`, { id: ID, runtime: 'cri-o', podUid: UID, podQos: 'besteffort' }],
    [`/kubepods.slice/kubepods-pod${SUID}.slice/cri-containerd-${ID}.scope`, { id: ID, runtime: 'containerd', podUid: UID, podQos: 'guaranteed' }],
    [`/kubepods.slice/kubepods-pod${SUID}.slice`, { id: null, runtime: null, podUid: UID, podQos: 'guaranteed' }],
    [`/kubepods/besteffort/pod${UID}/${ID}`, { id: ID, runtime: null, podUid: UID, podQos: 'besteffort' }],
    [`/kubepods/pod${UID}/${ID}`, { id: ID, runtime: null, podUid: UID, podQos: 'guaranteed' }],
    // Look-alikes are not containers: a short hex name, a scope of another kind.
    ['/system.slice/docker-abc.scope', { id: null, runtime: null, podUid: null, podQos: null }],
    [`/system.slice/containerd.service`, { id: null, runtime: null, podUid: null, podQos: null }],
    [`/kubepods.slice/kubepods-podnot_a_uid.slice`, { id: null, runtime: null, podUid: null, podQos: null }],
  ];
  for (const [path, want] of cases) assert.deepEqual(containerOf(path), want, String(path));
  const c = containerOf(`/system.slice/docker-${ID}.scope`);
  assert.ok(matchesContainer(c, ID.slice(0, 12)));
  assert.ok(matchesContainer(c, ID.toUpperCase()));
  assert.ok(!matchesContainer(c, 'ff'));
  assert.ok(!matchesContainer(containerOf('/'), ''));
});

test('exit code classes and --metrics addresses', () => {
  assert.deepEqual([0, 1, 2, 125, 126, 127, 128, 137, 255].map(codeClass), ['0', '1-125', '1-125', '1-125', '126', '127', '128-255', '128-255', '128-255']);
  assert.deepEqual(parseListenAddress('9464'), { host: '', port: 9464 });
  assert.deepEqual(parseListenAddress(':9464'), { host: '', port: 9464 });
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:80'), { host: '::1', port: 80 });
  for (const bad of ['', 'x', '1:2:3', '70000', 'host:', 'a b:1']) assert.throws(() => parseListenAddress(bad), /--metrics .*expected \[HOST:\]PORT/, bad);
});
