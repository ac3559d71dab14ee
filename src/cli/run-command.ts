import { choices, isOneOf } from '../choices.js';
import { ExitCode } from '../errors.js';
import { COMMAND_NAMES } from './commands.js';
import { SHELLS, completionScript } from './completion.js';
import { isControlCommand, runControl } from './control.js';
import { fail } from './fail.js';
import { helpText } from './help.js';
import { runTop } from './top.js';
import { VERSION } from '../version.js';

/** `gserve help|version|completion|top`: the commands that are not about the control socket's verbs. */
const OTHER = choices('help', 'version', 'completion', 'top');

export const isOtherCommand = (word: string | undefined): boolean => isOneOf(OTHER, word);

const usage = (message: string): number => fail(message, ExitCode.USAGE);

export async function runCommand(argv: string[]): Promise<number> {
  const [word, ...rest] = argv;
  switch (word) {
    case 'version':
      if (rest.length) return usage(`gserve version takes no arguments (got ${rest.join(' ')}).`);
      process.stdout.write(`${VERSION}\n`);
      return ExitCode.OK;
    case 'help': {
      const topic = rest[0];
      if (rest.length > 1) return usage('gserve help takes at most one COMMAND.');
      if (topic === undefined) {
        process.stdout.write(helpText(process.stdout.columns));
        return ExitCode.OK;
      }
      if (isControlCommand(topic)) return runControl([topic, '--help']);
      if (topic === 'top') return runTop(['--help']);
      if (topic === 'completion') {
        process.stdout.write(
          'Usage: gserve completion bash|zsh|fish\n\nPrint a completion script for the shell. Load it with:\n' +
            '  bash: source <(gserve completion bash)   (or save it in /etc/bash_completion.d/gserve)\n' +
            '  zsh:  source <(gserve completion zsh)    (or save it in a file _gserve in a folder of $fpath)\n' +
            '  fish: gserve completion fish > ~/.config/fish/completions/gserve.fish\n',
        );
        return ExitCode.OK;
      }
      if (topic === 'help' || topic === 'version') {
        process.stdout.write(topic === 'help' ? 'Usage: gserve help [COMMAND]\n' : 'Usage: gserve version\n');
        return ExitCode.OK;
      }
      return usage(`no command "${topic}"; the commands are ${COMMAND_NAMES.join(', ')}.`);
    }
    case 'completion': {
      const shell = rest[0];
      if (rest.length !== 1 || !isOneOf(SHELLS, shell))
        return usage(
          `gserve completion needs one shell: ${SHELLS.join(', ')}${shell ? ` (got ${rest.join(' ')})` : ''}.`,
        );
      process.stdout.write(completionScript(shell));
      return ExitCode.OK;
    }
    case 'top':
      return runTop(rest);
  }
  return usage(`unknown command ${word}`);
}
