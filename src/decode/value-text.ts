/** Decoded values as text: JSON with exact 64-bit integers, and table cells. */
import { printable } from '../text.js';

/** JSON text for a decoded value: bigints as exact JSON numbers, nothing rounded. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

/** How a value prints in a table cell: integers in decimal, nested values as compact JSON, strings printable. */
export function cell(value: unknown): string {
  if (typeof value === 'string') return printable(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return '';
  // JSON escapes C0 controls but leaves C1 (0x80-0x9f) raw, which some terminals act on.
  return printable(toJson(value));
}
