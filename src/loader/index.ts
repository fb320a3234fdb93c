export { Collection, Variable, setGlobal, setMapSizes, type LoadOptions } from './collection.js';
export { BpfMap, type ValueCodec, type MapCodec, kernelObjectName, NO_BTF_MAP_TYPES, mapDefinitionFault } from './map.js';
export { Program, loadProgram, type ProgramLoadOptions } from './program.js';
export { VerifierError, BtfLoadError } from './errors.js';
export { haveMapType, haveProgType, haveKernelCoreRelos, checkKernelFloor, belowKernelFloor, KERNEL_FLOOR } from './probe.js';
export { type CoreMode, type CoreLoadOptions } from './core.js';
