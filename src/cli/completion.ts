import { choices } from '../choices.js';
import { SETTINGS } from '../config/settings/index.js';
import { flagOf } from '../config/spec.js';
import { COMMANDS } from './commands.js';
import { GENERAL_FLAGS, firstSentence } from './help.js';

/** `gserve completion bash|zsh|fish`: scripts generated from the settings table and the commands. */

export const SHELLS = choices('bash', 'zsh', 'fish');
export type Shell = (typeof SHELLS)[number];

interface FlagInfo {
  long: string;
  short?: string;
  takesValue: boolean;
  choices: string[];
  summary: string;
  /** Completes with file names. */
  file: boolean;
}

function flags(): FlagInfo[] {
  const out: FlagInfo[] = GENERAL_FLAGS.map((f) => {
    const m = /(?:-(\w), )?--([\w-]+)/.exec(f.flags)!;
    return { long: m[2]!, short: m[1], takesValue: false, choices: [], summary: f.summary, file: false };
  });
  for (const spec of SETTINGS) {
    const flag = flagOf(spec);
    if (!flag) continue;
    const expected = spec.type.expected;
    const choices = /^one of /.test(expected) ? expected.slice('one of '.length).split(', ') : [];
    const meta = spec.meta ?? '';
    out.push({
      long: flag,
      short: spec.short?.replace(/^-/, ''),
      takesValue: !spec.type.isFlag,
      choices,
      summary: firstSentence(spec.doc).replace(/`/g, ''),
      file: ['FILE', 'PATH', 'DIR'].includes(meta),
    });
    if (spec.type.isFlag)
      out.push({ long: `no-${flag}`, takesValue: false, choices: [], summary: `Turn off --${flag}.`, file: false });
  }
  return out;
}

const single = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(): string {
  const all = flags();
  const words = [...all.map((f) => `--${f.long}`), ...all.filter((f) => f.short).map((f) => `-${f.short}`)].join(' ');
  const valued = all.filter((f) => f.takesValue);
  const cases = valued
    .map((f) => {
      const names = [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])].join('|');
      const action = f.choices.length
        ? `COMPREPLY=($(compgen -W ${single(f.choices.join(' '))} -- "$cur"))`
        : f.file
          ? 'COMPREPLY=($(compgen -f -- "$cur"))'
          : 'COMPREPLY=()';
      return `    ${names}) ${action}; return ;;`;
    })
    .join('\n');
  return `# gserve completion for bash. Load it with: source <(gserve completion bash)
_gserve() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${cases}
  esac
  if [[ $COMP_CWORD -eq 1 && "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W ${single(COMMANDS.map((c) => c.name).join(' '))} -- "$cur") $(compgen -f -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
    completion) COMPREPLY=($(compgen -W 'bash zsh fish' -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W ${single(COMMANDS.map((c) => c.name).join(' '))} -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W ${single(words)} -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _gserve gserve
`;
}

const zshEscape = (s: string) =>
  s.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`).replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');

function zsh(): string {
  const specs = flags().map((f) => {
    const action = f.takesValue
      ? f.choices.length
        ? `:${f.long}:(${f.choices.join(' ')})`
        : f.file
          ? `:${f.long}:_files`
          : `:${f.long}: `
      : '';
    const text = `[${zshEscape(f.summary)}]${action}`;
    return f.short ? `    '(-${f.short} --${f.long})'{-${f.short},--${f.long}}'${text}'` : `    '--${f.long}${text}'`;
  });
  const commands = COMMANDS.map((c) => `      '${c.name}:${zshEscape(c.summary)}'`).join('\n');
  return `#compdef gserve
# gserve completion for zsh. Load it with: source <(gserve completion zsh)
_gserve() {
  if (( CURRENT == 2 )) && [[ $words[2] != -* ]]; then
    local -a commands
    commands=(
${commands}
    )
    _describe -t commands 'gserve command' commands
    _files
    return
  fi
  case $words[2] in
    completion) _values 'shell' bash zsh fish; return ;;
    help) _values 'command' ${COMMANDS.map((c) => c.name).join(' ')}; return ;;
  esac
  _arguments -s \\
${specs.join(' \\\n')} \\
    '*:app:_files'
}
compdef _gserve gserve
`;
}

function fish(): string {
  const noCommand = `not __fish_seen_subcommand_from ${COMMANDS.map((c) => c.name).join(' ')}`;
  const lines = [
    '# gserve completion for fish. Load it with: gserve completion fish | source',
    'complete -c gserve -f',
  ];
  for (const c of COMMANDS)
    lines.push(`complete -c gserve -n ${single(`__fish_use_subcommand`)} -a ${c.name} -d ${single(c.summary)}`);
  lines.push(`complete -c gserve -n ${single('__fish_seen_subcommand_from completion')} -a 'bash zsh fish'`);
  lines.push(
    `complete -c gserve -n ${single('__fish_seen_subcommand_from help')} ` +
      `-a ${single(COMMANDS.map((c) => c.name).join(' '))}`,
  );
  lines.push(`complete -c gserve -n ${single(noCommand)} -F`);
  for (const f of flags()) {
    let line = `complete -c gserve -n ${single(noCommand)} -l ${f.long}`;
    if (f.short) line += ` -s ${f.short}`;
    if (f.takesValue) line += f.choices.length ? ` -x -a ${single(f.choices.join(' '))}` : f.file ? ' -r -F' : ' -x';
    line += ` -d ${single(f.summary)}`;
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? bash() : shell === 'zsh' ? zsh() : fish();
}
