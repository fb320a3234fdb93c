/** The optional labels of the exit metrics and their cap (apart from exits.ts: no prom-client to load for --help). */
export type ExitLabel = 'comm' | 'container' | 'pod';
export const EXIT_LABELS: readonly ExitLabel[] = ['comm', 'container', 'pod'];
export const DEFAULT_MAX_LABEL_SETS = 500;
