import { SETTINGS } from '../config/settings/index.js';
import { flagOf, type SettingSpec } from '../config/spec.js';
import { COMMANDS } from './commands.js';

/**
 * `gserve --help`: the commands first, then every flag grouped by the settings table's sections,
 * each with its first whole sentence, its default and the values it accepts.
 */

/** Flags of the CLI itself, not settings. */
export const GENERAL_FLAGS: ReadonlyArray<{ flags: string; summary: string }> = [
  { flags: '-h, --help', summary: 'Show this help.' },
  { flags: '-v, --version', summary: 'Print the version and exit.' },
  { flags: '--print-config', summary: 'Print the merged settings, with where each value came from, and exit.' },
  { flags: '--check-config', summary: 'Validate the settings and load the app, then exit.' },
];

const plain = (markdown: string) => markdown.replace(/`/g, '');

/** Abbreviations whose period does not end a sentence. */
const NOT_AN_END = /(?:\be\.g|\bi\.e|\betc|\bvs|\bcf|\bapprox|\bincl)\.$/i;

/** The first whole sentence of a doc text: never cut after "e.g." nor inside parentheses or backticks. */
export function firstSentence(text: string): string {
  let depth = 0;
  let code = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '`') code = !code;
    else if (!code && c === '(') depth++;
    else if (!code && c === ')') depth = Math.max(0, depth - 1);
    else if (!code && depth === 0 && c === '.' && (i + 1 === text.length || /\s/.test(text[i + 1]!))) {
      const head = text.slice(0, i + 1);
      if (!NOT_AN_END.test(head)) return head;
    }
  }
  return text;
}

export function flagText(spec: SettingSpec): string | null {
  const flag = flagOf(spec);
  if (!flag) return null;
  return `${spec.short ? `${spec.short}, ` : ''}--${flag}${spec.type.isFlag ? '' : ` ${spec.meta ?? 'VALUE'}`}`;
}

/** "default: …; one of: …" for a setting, or '' when there is nothing worth saying. */
export function defaultAndValues(spec: SettingSpec): string {
  const parts: string[] = [];
  const d = spec.default;
  let shown: string | null = null;
  if (spec.defaultDoc) shown = plain(spec.defaultDoc);
  else if (typeof d === 'string') shown = d;
  else if (typeof d === 'number') shown = String(d);
  else if (Array.isArray(d) && d.length) shown = d.join(', ');
  if (spec.type.isFlag) shown = d === true ? 'on' : null;
  if (shown) parts.push(`default: ${shown}`);
  const expected = spec.type.expected;
  if (/^one of /.test(expected)) parts.push(`values: ${expected.slice('one of '.length)}`);
  if (spec.type.repeatable) parts.push('repeatable');
  return parts.length ? `[${parts.join('; ')}]` : '';
}

/** Wraps `text` to `width` columns, every line after the first indented by `indent`. */
function wrap(text: string, width: number, indent: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l));
}

function rows(pairs: Array<[string, string]>, columns: number): string[] {
  const left = Math.min(30, Math.max(...pairs.map(([f]) => f.length)) + 2);
  const width = Math.max(30, columns - left - 2);
  const out: string[] = [];
  for (const [flags, text] of pairs) {
    const body = wrap(text, width, left + 2);
    if (flags.length + 2 > left) {
      out.push(`  ${flags}`);
      out.push(' '.repeat(left + 2) + body.join('\n'));
    } else out.push(`  ${flags.padEnd(left)}${body.join('\n')}`);
  }
  return out;
}

export function helpText(columns = 100): string {
  const cols = Math.max(60, Math.min(columns, 120));
  const out: string[] = [
    'Usage: gserve [options] APP          serve APP (MODULE[:ATTR], e.g. app:app)',
    '       gserve COMMAND [options]      talk to a running master, or another command below',
    '',
    'A prefork HTTP server and process manager for Node.js apps: what Gunicorn is for Python.',
    '',
    'Commands:',
    ...rows(
      COMMANDS.map((c) => [`${c.name}${c.args ? ' ' + c.args : ''}`, c.summary]),
      cols,
    ),
    '',
    'General:',
    ...rows(
      GENERAL_FLAGS.map((f) => [f.flags, f.summary]),
      cols,
    ),
  ];
  let section = '';
  let pairs: Array<[string, string]> = [];
  const flush = () => {
    if (pairs.length) out.push('', `${section}:`, ...rows(pairs, cols));
    pairs = [];
  };
  for (const spec of SETTINGS) {
    const flags = flagText(spec);
    if (!flags) continue;
    if (spec.section !== section) {
      flush();
      section = spec.section;
    }
    const extra = defaultAndValues(spec);
    pairs.push([flags, plain(firstSentence(spec.doc)) + (extra ? ` ${extra}` : '')]);
  }
  flush();
  out.push(
    '',
    'Every flag is also a config-file key and most are an environment variable; docs/settings.md has the full text.',
  );
  out.push("Boolean flags have a --no-FLAG form. gserve help COMMAND shows a command's options.");
  return out.join('\n') + '\n';
}
