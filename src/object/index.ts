export * from './spec.js';
export { parseObject, loadObjectFile, objectName, internalMapName } from './parse.js';
export { matchSection, SECTION_DEFS, type SectionDef, type SectionMatch } from './sections.js';
export { linkProgram, type LinkedProgram } from './link.js';
