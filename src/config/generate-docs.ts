import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTING_SPECS } from './settings/index.js';
import { envOf, flagOf, type SettingSpec } from './spec.js';

/** docs/settings.md and config/gserve.schema.json, both made from the settings table. */

const shownDefault = (s: SettingSpec) =>
  s.defaultDoc ?? (s.default === null ? 'none' : `\`${JSON.stringify(s.default)}\``);

export function settingsMarkdown(): string {
  let out = '# Settings\n\n<!-- Generated from src/config/settings/ by `npm run docs`; do not edit by hand. -->\n\n';
  out +=
    'Each setting comes, from lowest to highest precedence, from a built-in default, ' +
    'a config file (`gserve.config.{js,mjs,cjs,json,yaml}`, `.gserverc*`, the `gserve` key of `package.json`, ' +
    'or `-c FILE`), an environment variable, or the command line. ' +
    '`gserve --print-config` shows the merged values and where each came from. ' +
    "Config files use the camelCase names below (Gunicorn's snake_case spellings are accepted too, and its other names where a setting lists them). " +
    '`PORT` and `WEB_CONCURRENCY` change the defaults of `bind` and `workers`, as in Gunicorn: ' +
    'a config file, a `GSERVE_` variable or a flag wins over them. ' +
    'A `GSERVE_` variable that names no setting is ignored, with a warning at start.\n\n' +
    '"Reload" says whether `kill -HUP` applies a new value; the others need a restart.\n';
  let section = '';
  for (const s of SETTING_SPECS) {
    if (s.section !== section) {
      section = s.section;
      out += `\n## ${section}\n`;
    }
    const flag = flagOf(s);
    const env = envOf(s);
    const names = [
      flag && `${s.short ? `\`${s.short}\`, ` : ''}\`--${flag}${s.type.isFlag ? '' : ` ${s.meta ?? 'VALUE'}`}\``,
      env && `\`${env}\``,
    ]
      .filter(Boolean)
      .join(' · ');
    out += `\n### \`${s.name}\`\n\n`;
    if (names) out += `${names}\n\n`;
    out += `${s.doc}\n\n`;
    out += `- Type: ${s.type.expected}${s.type.repeatable ? ' (repeat the flag for several)' : ''}\n`;
    out += `- Default: ${shownDefault(s)}\n`;
    out += `- Reload: ${s.reloadable === false ? 'restart needed' : 'applied on HUP'}\n`;
    const { key, flag: gunicornFlag } = s.gunicorn ?? {};
    if (key || gunicornFlag)
      out += `- Gunicorn's name, accepted too: ${[key && `\`${key}\``, gunicornFlag && `\`--${gunicornFlag}\``].filter(Boolean).join(', ')}\n`;
  }
  return out;
}

export function settingsSchema(): string {
  const properties: Record<string, unknown> = {};
  for (const s of SETTING_SPECS) {
    properties[s.name] = {
      description: s.doc,
      ...JSON.parse(JSON.stringify(s.type.schema)),
      ...(s.type.schema.type === 'array' || s.default === null || typeof s.default === 'function'
        ? {}
        : { default: s.default }),
    };
  }
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'gserve settings',
    type: 'object',
    additionalProperties: false,
    properties,
  };
  return JSON.stringify(schema, null, 2) + '\n';
}

export const DOC_PATHS = {
  markdown: fileURLToPath(new URL('../../docs/settings.md', import.meta.url)),
  schema: fileURLToPath(new URL('../../config/gserve.schema.json', import.meta.url)),
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DOC_PATHS.markdown, settingsMarkdown());
  writeFileSync(DOC_PATHS.schema, settingsSchema());
  console.log(`wrote ${DOC_PATHS.markdown} and ${DOC_PATHS.schema}`);
}
