import { Command, CommanderError, InvalidArgumentError, Option } from './commander.js';
import { SETTINGS } from '../config/settings/index.js';
import { flagOf, type SettingSpec } from '../config/spec.js';
import { helpText } from './help.js';

export interface ParsedCommandLine {
  /** Raw setting values given on the command line, keyed by setting name. */
  cli: Record<string, unknown>;
  printConfig: boolean;
  checkConfig: boolean;
}

/** commander's own errors (`error: unknown option`) get the `gserve: ` prefix all of gserve's errors carry. */
export const PREFIXED_ERRORS = { outputError: (text: string, write: (s: string) => void) => write(`gserve: ${text}`) };

function optionFor(spec: SettingSpec, flag: string): Option[] {
  const short = spec.short ? `${spec.short}, ` : '';
  const help = spec.doc.split(/(?<=\.)\s/)[0]!.replace(/`/g, '');
  if (spec.type.isFlag) {
    return [new Option(`${short}--${flag}`, help), new Option(`--no-${flag}`, `Turn off --${flag}.`).hideHelp()];
  }
  const option = new Option(`${short}--${flag} <${spec.meta ?? 'VALUE'}>`, help);
  option.argParser<string | string[]>((value: string, previous: string | string[] | undefined) => {
    notAFlag(value, spec.meta ?? 'VALUE');
    return spec.type.repeatable ? [...((previous as string[] | undefined) ?? []), value] : value;
  });
  return [option];
}

/**
 * An option's value that looks like a flag is a forgotten value: `--access-logfile --check-config`
 * would log to a file named `--check-config` and start a server where a check was asked for.
 * Refused as argparse (Gunicorn) refuses it. `-` alone (a standard stream) and `-1` are values.
 */
function notAFlag(value: string, meta: string): void {
  if (/^--?[A-Za-z]/.test(value))
    throw new InvalidArgumentError(
      `${value} is a flag, not a ${meta}: the value is missing. Give it right after the option (a value that ` +
        'starts with - can be written ./-name for a file).',
    );
}

/** The commander program, generated from the settings table. */
export function buildProgram(version: string): { program: Command; names: Map<string, string> } {
  const program = new Command('gserve')
    .usage('[options] [APP]')
    .description('A prefork HTTP server and process manager for Node.js apps. APP is MODULE[:ATTR], e.g. app:app.')
    .argument('[APP]', 'the app to serve, MODULE[:ATTR]')
    .version(version, '-v, --version', 'Print the version and exit.')
    .helpOption('-h, --help', 'Show this help.')
    .option('--print-config', 'Print the merged settings, with where each value came from, and exit.')
    .option('--check-config', 'Validate the settings and load the app, then exit.')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .configureOutput(PREFIXED_ERRORS)
    .exitOverride();
  // Grouped by the settings table's sections, with defaults and accepted values (help.ts).
  program.helpInformation = () => helpText(process.stdout.columns);
  const names = new Map<string, string>(); // commander attribute name -> setting name
  for (const spec of SETTINGS) {
    const flag = flagOf(spec);
    if (!flag) continue;
    const gunicornFlag = spec.gunicorn?.flag;
    const options = optionFor(spec, flag);
    if (gunicornFlag) options.push(...optionFor(spec, gunicornFlag).map((o) => o.hideHelp()));
    for (const option of options) {
      program.addOption(option);
      names.set(option.attributeName(), spec.name);
    }
  }
  return { program, names };
}

export function parseCommandLine(argv: string[], version: string): ParsedCommandLine {
  const { program, names } = buildProgram(version);
  program.parse(argv, { from: 'user' });
  const opts = program.opts();
  const cli: Record<string, unknown> = {};
  for (const [attribute, value] of Object.entries(opts)) {
    const name = names.get(attribute);
    if (name && value !== undefined) cli[name] = value;
  }
  const app = program.args[0];
  if (app !== undefined) cli.app = app;
  return { cli, printConfig: Boolean(opts.printConfig), checkConfig: Boolean(opts.checkConfig) };
}

export { CommanderError };
