export * from './types.js';
export { Btf, parseBtf, type ParseBtfOptions, encodeBtf, isCharInt, isSignedInt, isBoolInt, structOf } from './btf.js';
export { StringTable } from './strings.js';
export * from './ext.js';
export { kernelBtf, VMLINUX_BTF_PATH } from './kernel.js';
export { checkNesting, decodeValue, encodeValue, MAX_NESTING, ValueError, memberBits, memberInside, memberKey, readBits, readInt } from './codec.js';
// The codec's write primitives, shared with generated encoders (gen/encoder.ts) so both throw alike.
export { expected, need, toBigInt, writeBits, writeInt } from './codec.js';
export { dumpC, dumpRaw, CDumper, cIdent, type DumpCOptions } from './cdump.js';
export { applyCoreRelocations, CoreError, CORE, coreKindName, essentialName, POISON_HELPER, type CoreTarget, type CoreOutcome, type CandidateCache, type ApplyCoreOptions } from './core.js';
