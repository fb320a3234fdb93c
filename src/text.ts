import { TsbpfError } from './errors.js';

/**
 * Text that came from input (process names, package strings, section and symbol names)
 * made safe to show: on a terminal it must not act (escape sequences), and in an error it
 * must not bury the message (a 1 MB name). JSON output needs none of this: JSON escapes.
 */

// C0 and C1 control characters and DEL: what a terminal would act on instead of showing.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// The same without newline and tab, for text whose lines are its own (doc comments, logs).
const CONTROL_IN_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const CONTROLS_IN_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

const hex = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * `s` with control characters as \xNN (as systemd shows them), so a process that names
 * itself "\x1b]0;..." cannot drive the terminal of whoever watches.
 */
export function printable(s: string): string {
  return CONTROL.test(s) ? s.replace(CONTROLS, hex) : s;
}

/** `printable`, keeping newlines and tabs: for text made of lines. */
export function printableLines(s: string): string {
  return CONTROL_IN_LINES.test(s) ? s.replace(CONTROLS_IN_LINES, hex) : s;
}

/** How many characters of a value from input an error message shows. */
export const ECHO_LIMIT = 80;

/**
 * A value from input as an error message quotes it: JSON (strings in quotes), control
 * characters escaped, at most ECHO_LIMIT characters with how many were left out.
 */
export function quoted(v: unknown): string {
  if (typeof v === 'string') {
    // Cut before quoting: a huge string costs no more than its first characters.
    if (v.length <= ECHO_LIMIT) return printable(JSON.stringify(v));
    return `${printable(JSON.stringify(v.slice(0, ECHO_LIMIT)).slice(0, -1))}..." (${v.length - ECHO_LIMIT} more characters)`;
  }
  let text: string;
  try {
    text = JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? Number(x) : x)) ?? String(v);
  } catch {
    // Too deep to stringify (a RangeError): its kind says enough.
    text = Array.isArray(v) ? '[[[...' : '{...';
  }
  text = printable(text);
  return text.length <= ECHO_LIMIT ? text : `${text.slice(0, ECHO_LIMIT)}... (${text.length - ECHO_LIMIT} more characters)`;
}

/** The longest line an error prints whole (our own lists of section types reach ~1,500); longer ones keep their start and end. */
const LINE_LIMIT = 4000;

/** A message for stderr: each line printable and at most LINE_LIMIT characters. */
export function messageText(message: string): string {
  return message
    .split('\n')
    .map((l) => {
      const p = printable(l);
      return p.length > LINE_LIMIT ? `${p.slice(0, LINE_LIMIT - 100)} ... (${p.length - LINE_LIMIT + 40} characters left out) ... ${p.slice(-60)}` : p;
    })
    .join('\n');
}

/**
 * The most text one dump or generated source may hold. Its size comes from names in the
 * input, which may repeat: one 64 KiB name in 65,535 places would be 4 GB. vmlinux.h is
 * about 4 MB.
 */
export const MAX_OUTPUT_TEXT = 64 << 20;

/** Counts the characters of generated text against MAX_OUTPUT_TEXT; past it, a TsbpfError naming `what`. */
export class TextBudget {
  private left = MAX_OUTPUT_TEXT;

  constructor(private readonly what: string) {}

  /** Counts `n` characters about to be written. */
  charge(n: number): void {
    this.left -= n;
    if (this.left < 0) throw new TsbpfError(`${this.what} would be more than ${MAX_OUTPUT_TEXT >> 20} MiB of text (long names used many times?)`);
  }

  /** `s`, counted. */
  take(s: string): string {
    this.charge(s.length);
    return s;
  }
}

