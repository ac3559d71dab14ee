import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_PATHS, settingsMarkdown, settingsSchema } from '../../src/config/generate-docs.js';
import { SETTINGS } from '../../src/config/settings/index.js';

describe('generated docs', () => {
  it('docs/settings.md matches the settings table (run `npm run docs` when this fails)', () => {
    expect(readFileSync(DOC_PATHS.markdown, 'utf8')).toBe(settingsMarkdown());
  });
  it('config/gserve.schema.json matches the settings table (run `npm run docs` when this fails)', () => {
    expect(readFileSync(DOC_PATHS.schema, 'utf8')).toBe(settingsSchema());
  });
  it('documents every setting', () => {
    const md = settingsMarkdown();
    for (const s of SETTINGS) expect(md).toContain(`### \`${s.name}\``);
  });
});
