import { createRequire } from 'node:module';
import type * as commander from 'commander';

/**
 * commander, loaded with require(): a CommonJS package imported as an ES module goes through the
 * ESM loader's CommonJS translator, which costs the master memory it keeps (log/destination.ts).
 */
const loaded: typeof commander = createRequire(import.meta.url)('commander');

export const { Command, CommanderError, InvalidArgumentError, Option } = loaded;
export type Command = commander.Command;
export type CommanderError = commander.CommanderError;
export type Option = commander.Option;
