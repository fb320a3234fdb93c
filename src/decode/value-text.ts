/** Decoded values as text: JSON with exact 64-bit integers, and table cells. */

/** JSON text for a decoded value: bigints as exact JSON numbers, nothing rounded. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

// C0 and C1 control characters and DEL: what a terminal would act on instead of showing.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * `s` safe to print to a terminal: control characters as \xNN (as systemd shows them),
 * so a process that names itself "\x1b]0;..." cannot drive the terminal of whoever watches.
 * JSON output needs none of this: its strings are escaped by JSON itself.
 */
export function printable(s: string): string {
  return CONTROL.test(s) ? s.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : s;
}

/** How a value prints in a table cell: integers in decimal, nested values as compact JSON, strings printable. */
export function cell(value: unknown): string {
  if (typeof value === 'string') return printable(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return '';
  return toJson(value);
}
