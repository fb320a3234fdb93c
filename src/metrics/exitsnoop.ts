/**
 * `tsbpf exitsnoop --metrics`: the exit monitor with a Prometheus endpoint beside (or, with
 * `quiet`, instead of) its event output. The same filters apply to both.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CgroupPaths } from '../tools/exitsnoop/cgroup.js';
import { CgroupIdentities } from '../tools/exitsnoop/container.js';
import { exitsnoop, type ExitsnoopOptions, type ExitsnoopResult } from '../tools/exitsnoop/index.js';
import { ExitMetrics, type ExitMetricsOptions } from './exits.js';
import { MetricsServer, type ListenAddress } from './server.js';

export interface ExitsnoopMetricsOptions extends ExitsnoopOptions, ExitMetricsOptions {
  metrics: ListenAddress;
  /** Told the address actually listened on (port 0 picks one). */
  onListening?: (at: ListenAddress) => void;
}

export async function exitsnoopWithMetrics(opts: ExitsnoopMetricsOptions): Promise<ExitsnoopResult> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry }); // the exporter's own process metrics
  const metrics = new ExitMetrics(registry, opts);
  const wantsContainer = !!opts.labels?.some((l) => l === 'container' || l === 'pod');
  const cgroups = wantsContainer ? new CgroupIdentities(new CgroupPaths()) : undefined;
  const server = await MetricsServer.listen(registry, opts.metrics);
  opts.onListening?.(server.address);
  try {
    return await exitsnoop({
      ...opts,
      onReady: (info) => {
        server.ready();
        opts.onReady?.(info);
      },
      observer: {
        exit: (e) => metrics.exit(e, cgroups?.info(e.cgroupId).container),
        lost: (count) => metrics.addLost(count),
      },
    });
  } finally {
    server.unhealthy();
    await server.close();
  }
}
