export * from './spec.js';
export { parseObject, loadObjectFile, objectName, internalMapName } from './parse.js';
export { matchSection, SECTION_DEFS, type SectionDef, type SectionMatch } from './sections.js';
export { linkProgram, type LinkedProgram } from './link.js';
export {
  collectExterns, parseKconfig, setKconfigValue, setKconfigNumber, parseU64, essentialName, kconfigType,
  KCONFIG_SEC, KSYMS_SEC, TRI_NO, TRI_YES, TRI_MODULE,
  type ExternSpec, type KconfigExtern, type KsymExtern, type KconfigType,
} from './externs.js';
