/**
 * tsbpf's public API: read a BPF object, load it, use its maps, globals and programs.
 *
 *   const spec = loadObjectFile('prog.bpf.o');
 *   setGlobal(spec, 'min_age', 5);          // const volatile, before load
 *   using coll = Collection.load(spec);
 *   coll.map('counts').lookup(1);
 *
 * Packages: build() compiles BPF C into an eunomia package.json as ecc does;
 * readPackage()/writePackage() convert between packages and objects; Runner runs a
 * package as ecli does and gives its events, samples and printk lines as values.
 */
export { TsbpfError, ParseError, NotSupportedError } from './errors.js';
export { SysError } from './sys/errors.js';
export { defaultSys } from './sys/index.js';
export type { Sys } from './sys/types.js';
export { parseObject, loadObjectFile, type ObjectSpec, type MapSpec, type MapSlot, type ProgramSpec, type VariableSpec, type ExternSpec } from './object/index.js';
export { Collection, Variable, setGlobal, setMapSizes, BpfMap, Program, VerifierError, BtfLoadError, type LoadOptions, type CoreMode, type ValueCodec, type MapCodec } from './loader/index.js';
export { Btf, parseBtf, kernelBtf, decodeValue, encodeValue, ValueError, applyCoreRelocations, CoreError, type CoreTarget, type CoreOutcome } from './btf/index.js';
export { attach, attachAll, Link, LinkSet, AttachError, type AttachOptions } from './link/index.js';
export { RingBuffer, type RecordVisitor } from './ringbuf/index.js';
export { PerfBuffer, LostSamples } from './perf/index.js';
export { compileDecoder, compileCodec, compileJsonWriter, EventFormatter, TableFormatter, toJson, log2Histogram, linearHistogram, type Decoder } from './decode/index.js';
export { readPackage, writePackage, PackageError, type Package, type EunomiaPackage } from './package/index.js';
export { build, CompileError, type BuildOptions, type BuildResult } from './build/index.js';
export { Runner, runnableFrom, type Runnable, type RunnerOptions, type RunMode, type RunItem, type RunHandlers, type RecordRef, type ExportedEvent, type EventType } from './runner/index.js';
export { exitEvents, ExitMonitor, type ExitEvent, type ExitItem, type ExitFilterOptions } from './tools/exitsnoop/index.js';
export { EventStream, type RecordDecoder } from './ringbuf/stream.js';
export { decoderHelpers } from './gen/decoder.js';
export { encoderHelpers } from './gen/encoder.js';
export { generateTypeScript, type GenOptions } from './gen/ts.js';
