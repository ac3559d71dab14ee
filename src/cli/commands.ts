/**
 * The words that start a gserve command instead of a server. They are never taken for an app name:
 * an app module with such a name is given by its path (`./top`, `top.js`).
 */
export interface CommandSpec {
  name: string;
  /** What follows the word, for the usage line. */
  args: string;
  summary: string;
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'status', args: '[--json]', summary: 'Show the running master and its workers.' },
  { name: 'top', args: '', summary: 'A live view of the workers, refreshed every second; q quits.' },
  { name: 'reload', args: '', summary: 'Reload the config and the code, like HUP does.' },
  { name: 'scale', args: 'N|+N|-N', summary: 'Set the number of workers.' },
  { name: 'stop', args: '[--fast]', summary: 'Stop the master gracefully (or at once with --fast).' },
  { name: 'completion', args: 'bash|zsh|fish', summary: 'Print a shell completion script.' },
  { name: 'help', args: '[COMMAND]', summary: "Show this help, or a command's." },
  { name: 'version', args: '', summary: 'Print the version.' },
];

export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

export const isCommandWord = (word: string | undefined): boolean => word !== undefined && COMMAND_NAMES.includes(word);
