import { describe, expect, it } from 'vitest';
import { argsFor } from '../../src/api.js';
import { defineConfig } from '../../src/config/define.js';
import { SettingError } from '../../src/errors.js';

describe('start(): settings become command-line flags, checked against the settings table', () => {
  it('turns values, lists, booleans and the app into flags', () => {
    expect(
      argsFor({ workers: 3, bind: ['127.0.0.1:0', 'unix:/tmp/a.sock'], preload: true, logJson: false, app: 'app:app' }),
    ).toEqual([
      '--workers',
      '3',
      '--bind',
      '127.0.0.1:0',
      '--bind',
      'unix:/tmp/a.sock',
      '--preload',
      '--no-log-json',
      'app:app',
    ]);
  });

  it('leaves out unset and "auto" values', () => {
    expect(argsFor({ accessLogJson: null, pid: undefined, workers: 2 })).toEqual(['--workers', '2']);
  });

  it('refuses an unknown setting with a "did you mean", and a bad value naming the setting', () => {
    expect(() => argsFor({ wrokers: 2 } as never)).toThrow(
      /Unknown setting "wrokers" given to start\(\)\. Did you mean "workers"\?/,
    );
    expect(() => argsFor({ workers: 'many' } as never)).toThrow(SettingError);
    expect(() => argsFor({ workers: 'many' } as never)).toThrow(
      /Invalid value for setting "workers" given to start\(\): expected an integer/,
    );
  });

  it('sends hooks to a config file: functions cannot cross into the gserve process', () => {
    expect(() => argsFor({ onStarting: () => {} } as never)).toThrow(
      /"onStarting" cannot be given to start\(\).*config file/,
    );
  });
});

describe('defineConfig', () => {
  it('returns the config as it is, objects and functions alike', () => {
    const config = { workers: 2, onStarting: () => {} };
    expect(defineConfig(config)).toBe(config);
    const factory = async () => ({ workers: 4 });
    expect(defineConfig(factory)).toBe(factory);
  });
});
