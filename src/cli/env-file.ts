import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import util from 'node:util';
import { GserveError, errorCode } from '../errors.js';

/**
 * `--env-file FILE`: dotenv files loaded into the master's environment (which the workers inherit),
 * with Node's own `--env-file` rules: a later file wins over an earlier one, and a variable that
 * is already set wins over every file.
 */
export class EnvFileError extends GserveError {
  override name = 'EnvFileError';
  constructor(message: string) {
    super('GSERVE_E_ENV_FILE', message);
  }
}

type Parse = (content: string) => Record<string, string>;

/** Node ≥ 20.12 parses dotenv itself; older ones get the same basic rules here. */
const parse: Parse =
  typeof util.parseEnv === 'function' ? (content) => definedOnly(util.parseEnv(content)) : parseDotenv;

function definedOnly(vars: NodeJS.Dict<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(vars)) if (value !== undefined) out[name] = value;
  return out;
}

export function parseDotenv(content: string): Record<string, string> {
  const out: Record<string, string> = {};
  const line = /^\s*(?:export\s+)?([\w.-]+)\s*=\s*("(?:\\.|[^"\\])*"|'[^']*'|`[^`]*`|[^#\r\n]*)/gm;
  for (const m of content.matchAll(line)) {
    let value = m[2]!.trim();
    const quote = value[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, '\n');
    }
    out[m[1]!] = value;
  }
  return out;
}

/** Reads the files in order; returns the names of the variables set. Throws EnvFileError for a file it cannot read. */
export function loadEnvFiles(files: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const merged: Record<string, string> = {};
  for (const file of files) {
    const path = resolve(cwd, file);
    let content: string;
    try {
      content = readFileSync(path, 'utf8');
    } catch (err) {
      const code = errorCode(err);
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'it is a directory'
              : String(code ?? err);
      throw new EnvFileError(`Cannot read env file ${path} (${why}). Check --env-file.`);
    }
    Object.assign(merged, parse(content));
  }
  const set: string[] = [];
  for (const [key, value] of Object.entries(merged)) {
    if (env[key] !== undefined) continue;
    env[key] = value;
    set.push(key);
  }
  return set;
}
