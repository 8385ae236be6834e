import { createRequire } from 'node:module';

/** netmon's version, from package.json (one level above both src/ and dist/). */
export const NETMON_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
