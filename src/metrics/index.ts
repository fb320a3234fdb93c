export { ExitMetrics, codeClass, LIFETIME_BUCKETS, type ExitMetricsOptions } from './exits.js';
export { DEFAULT_MAX_LABEL_SETS, EXIT_LABELS, type ExitLabel } from './labels.js';
export { MetricsServer, parseListenAddress, type ListenAddress } from './server.js';
export { exitsnoopWithMetrics, type ExitsnoopMetricsOptions } from './exitsnoop.js';
export { RunMetrics, readRunMetricsConfig, serveRunMetrics, type RunMetricsConfig } from './run.js';
export { LabelSetCap } from './cap.js';
