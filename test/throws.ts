import assert from 'node:assert/strict';
import { ParseError, TsbpfError } from '../src/errors.js';

/** Asserts that fn throws a ParseError whose message matches every pattern. */
export function throwsParse(fn: () => unknown, ...patterns: RegExp[]): ParseError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ParseError, `expected a ParseError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

/** Asserts that fn throws a TsbpfError (any kind) whose message matches every pattern. */
export function throwsTsbpf(fn: () => unknown, ...patterns: RegExp[]): TsbpfError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TsbpfError, `expected a TsbpfError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}
