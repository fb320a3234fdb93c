export * from './format.js';
export { writePackage, makeSkel, exportType, structIds, memberTypeName, plainTypeName, objNameOf, type WritePackageOptions } from './write.js';
export { readPackage, PackageError, type Package } from './read.js';
export { packageAttachOptions } from './attach.js';
export { readSource, MAX_SOURCE_BYTES, type Source } from './source.js';
export { DUMMY_VARIABLE, headerStructIds } from './header-structs.js';
