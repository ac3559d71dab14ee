import { readFileSync } from 'node:fs';
import { PACKAGE_JSON } from './package-root.js';

export const VERSION: string = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')).version;
