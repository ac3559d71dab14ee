import { defineSetting } from '../spec.js';
import { list, optionalString, string } from '../types.js';

const SECTION = 'Server';

const account = (what: string) =>
  optionalStringWith((s) =>
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(s)
      ? undefined
      : `expected a ${what} name or a numeric id, got ${JSON.stringify(s)}`,
  );

function optionalStringWith(check: (s: string) => string | undefined) {
  const base = optionalString();
  const checked = string(check);
  return { ...base, parse: (raw: unknown) => (raw === null ? null : checked.parse(raw)) };
}

/** Who the workers run as, and variables loaded from files: the process around the app. */
export const serverProcessSettings = [
  defineSetting({
    name: 'envFile',
    section: SECTION,
    meta: 'FILE',
    type: list(string(), { split: false }),
    default: [],
    doc:
      'Load environment variables from this dotenv file (`KEY=value` lines) before the settings are resolved, ' +
      'so `GSERVE_*` variables in it count. Repeatable; a later file wins over an earlier one, ' +
      'and a variable already ' +
      "in the environment wins over every file, like Node's own `--env-file`. " +
      "Given in a config file, the variables reach the app but not gserve's settings. " +
      'Node itself also reads a `--env-file` it finds anywhere on the command line, before gserve starts ' +
      '(the same rules, so the outcome is the same), and stops at once on a file that is missing, with its own ' +
      '`node: FILE: not found` and exit code 9.',
    env: false,
    reloadable: false,
  }),
  defineSetting({
    name: 'user',
    section: SECTION,
    short: '-u',
    meta: 'USER',
    type: account('user'),
    default: null,
    defaultDoc: "the master's user",
    doc:
      'Run the workers under this user (a name or a numeric uid), like Gunicorn: ' +
      'the master keeps its user, binds first (port 80 when root, say), ' +
      'then each worker drops to this user and its groups before it loads the app. Needs a root master.',
  }),
  defineSetting({
    name: 'group',
    section: SECTION,
    short: '-g',
    meta: 'GROUP',
    type: account('group'),
    default: null,
    defaultDoc: "the primary group of `--user`, else the master's group",
    doc: 'Run the workers with this group (a name or a numeric gid).',
  }),
];
