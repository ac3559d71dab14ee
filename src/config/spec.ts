import type { ValueType } from './types.js';

/**
 * One row of the settings table. The command line, the environment, config-file validation,
 * docs/settings.md and config/gserve.schema.json are all derived from these rows.
 */
export interface SettingSpec<N extends string = string, T = unknown> {
  /** Key in a config file (camelCase; Gunicorn's snake_case spelling is accepted too). */
  readonly name: N;
  readonly section: string;
  readonly type: ValueType<T>;
  readonly default: NoInfer<T>;
  /** How the default reads in the docs when it is computed. */
  readonly defaultDoc?: string;
  readonly doc: string;
  /** Long flag without dashes; derived from the name unless given; `false` for config-file-only. */
  readonly flag?: string | false;
  readonly short?: string;
  /** Placeholder shown in --help. */
  readonly meta?: string;
  /** Environment variable; `GSERVE_` + SNAKE_CASE unless given; `false` for none. */
  readonly env?: string | false;
  /** Whether HUP applies a new value without restarting the master. */
  readonly reloadable?: boolean;
  /**
   * Gunicorn's names for this setting where they are not our name in snake_case (`errorlog`):
   * `key` is accepted in config files, `flag` (without dashes) on the command line, unlisted in --help.
   */
  readonly gunicorn?: { readonly key?: string; readonly flag?: string };
}

export const defineSetting = <const N extends string, T>(spec: SettingSpec<N, T>): SettingSpec<N, T> => spec;

export const flagOf = (s: SettingSpec): string | false =>
  s.flag === false ? false : (s.flag ?? s.name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()));

export const envOf = (s: SettingSpec): string | false =>
  s.env === false ? false : (s.env ?? 'GSERVE_' + s.name.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase());

export type SettingsOf<A extends readonly SettingSpec[]> = {
  -readonly [N in A[number]['name']]: Extract<A[number], { name: N }> extends SettingSpec<string, infer T> ? T : never;
};
