/**
 * What generated bindings use, in one module: `tsbpf gen --import` can point the project's
 * own bindings here (src/tools/exitsnoop/bindings.ts), where importing the package's
 * index would be circular. Users' bindings import the same names from "tsbpf".
 */
export { Collection, setGlobal, type BpfMap, type LoadOptions, type Program, type Variable } from '../loader/index.js';
export { parseObject } from '../object/index.js';
export { TsbpfError } from '../errors.js';
export { EventStream } from '../ringbuf/stream.js';
export { decoderHelpers } from './decoder.js';
export { encoderHelpers } from './encoder.js';
