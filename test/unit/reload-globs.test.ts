import { describe, expect, it } from 'vitest';
import { globMatcher } from '../../src/master/dev-reload.js';

describe('reload globs', () => {
  it('match file names without a slash, paths with one, and ** across folders', () => {
    const m = globMatcher(['*.js', 'config/*.json', 'src/**/*.{ts,mts}', 'a?c']);
    expect(m('app.js')).toBe(true);
    expect(m('lib/deep/app.js')).toBe(true);
    expect(m('app.jsx')).toBe(false);
    expect(m('config/app.json')).toBe(true);
    expect(m('other/app.json')).toBe(false);
    expect(m('src/x.ts')).toBe(true);
    expect(m('src/a/b/x.mts')).toBe(true);
    expect(m('src/a/b/x.cts')).toBe(false);
    expect(m('abc')).toBe(true);
    expect(m('abbc')).toBe(false);
    expect(globMatcher(['.*'])('dir/.hidden.js')).toBe(true);
  });
});
