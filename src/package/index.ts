export * from './format.js';
export { writePackage, makeSkel, exportType, structIds, memberTypeName, plainTypeName, objNameOf, type WritePackageOptions } from './write.js';
export { readPackage, PackageError, type Package } from './read.js';
export { packageAttachOptions } from './attach.js';
