import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTING_SPECS } from '../../src/config/settings/index.js';
import { flagOf } from '../../src/config/spec.js';
import { firstSentence } from '../../src/cli/help.js';
import { runCli } from '../helpers/cli.js';
import { BIN, FIXTURES, startGserve, tempDir } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';

const collapse = (s: string) => s.replace(/\s+/g, ' ');
const flagged = SETTING_SPECS.filter((s) => flagOf(s));

describe('gserve --help', () => {
  it('lists the commands first, then the flags grouped by the settings sections, in the table order', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    const commands = stdout.indexOf('\nCommands:\n');
    expect(commands).toBeGreaterThan(0);
    for (const word of ['status', 'top', 'reload', 'scale', 'stop', 'completion', 'help', 'version']) {
      expect(stdout.slice(commands).split('\n\n')[0]).toMatch(new RegExp(`^  ${word}\\b`, 'm'));
    }
    const sections = [...new Set(flagged.map((s) => s.section))];
    let at = commands;
    for (const section of sections) {
      const next = stdout.indexOf(`\n${section}:\n`);
      expect(next, `section ${section}`).toBeGreaterThan(at);
      at = next;
    }
    // Every flag sits under its own section's heading.
    for (const s of flagged) {
      const line = new RegExp(`^  (-\\w, )?--${flagOf(s)}\\b`, 'm').exec(stdout);
      expect(line, `--${flagOf(s)}`).not.toBeNull();
      const heading = stdout.lastIndexOf('\n\n', line!.index);
      expect(stdout.slice(heading + 2).split('\n')[0], `--${flagOf(s)}`).toBe(`${s.section}:`);
    }
  });

  it('shows defaults and accepted values, and never cuts a description short', async () => {
    const text = collapse((await runCli(['--help'])).stdout);
    expect(text).toContain(
      '--log-level LEVEL The least severe level written to the error log. [default: info; values: debug, info, ' +
        'warning, error, critical]',
    );
    expect(text).toContain(
      "--lifespan VALUE ASGI lifespan events, like Uvicorn's. [default: auto; values: auto, on, off]",
    );
    expect(text).toContain(
      '--max-worker-memory SIZE A worker whose resident memory (RSS) passes this size, e.g. 512MB, ' +
        'is replaced gracefully. [default: 0 (no limit)',
    );
    for (const s of flagged) {
      const sentence = collapse(firstSentence(s.doc).replace(/`/g, ''));
      expect(text, `--${flagOf(s)}`).toContain(sentence);
      expect(sentence, `--${flagOf(s)}`).not.toMatch(/\b(e\.g|i\.e)\.$/);
    }
  });

  it("gserve help is the same text; gserve help COMMAND shows that command's options", async () => {
    expect((await runCli(['help'])).stdout).toBe((await runCli(['--help'])).stdout);
    const status = await runCli(['help', 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Usage: gserve status[\s\S]*--json/);
    const top = await runCli(['help', 'top']);
    expect(top.stdout).toMatch(/Usage: gserve top[\s\S]*--control-socket/);
    const bad = await runCli(['help', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^gserve: error: no command "nope"; the commands are status, top,/);
  });
});

describe('command words are never taken as app names', () => {
  // Modules named like the commands sit in the working directory: the old CLI served them.
  function appsNamedLikeCommands(): { dir: string; marker: string } {
    const dir = tempDir();
    const marker = join(dir, 'imported');
    for (const word of ['help', 'version', 'top', 'completion']) {
      writeFileSync(
        join(dir, `${word}.js`),
        `require('node:fs').writeFileSync(${JSON.stringify(marker)}, ${JSON.stringify(word)});\n` +
          `exports.app = (req, res) => res.end('${word}');\n`,
      );
    }
    return { dir, marker };
  }

  it.each([
    [['help'], 0, /^Usage: gserve/],
    [['version'], 0, /^\d+\.\d+\.\d+\n$/],
    [['completion', 'bash'], 0, /complete -o filenames -F _gserve gserve/],
  ])('gserve %j prints and exits without binding', async (args, code, out) => {
    const { dir, marker } = appsNamedLikeCommands();
    const r = await runCli(args, { cwd: dir, env: { XDG_RUNTIME_DIR: dir } });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(code);
    expect(r.stdout).toMatch(out);
    expect(r.stderr).not.toMatch(/Listening at|Cannot find app module/);
    expect(existsSync(marker)).toBe(false);
  });

  it('gserve top without a master says so and exits 1; it never boots one', async () => {
    const { dir, marker } = appsNamedLikeCommands();
    const r = await runCli(['top'], { cwd: dir, env: { XDG_RUNTIME_DIR: dir } });
    expect(r.killed).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `gserve: error: no gserve master started in ${dir} answers (looked in ${join(dir, 'gserve')}). ` +
        `Is it running? Point to it with --control-socket, --pid or -c.\n`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('a command word after options is refused with the way out (./top), exit 2', async () => {
    const { dir, marker } = appsNamedLikeCommands();
    const r = await runCli(['-w', '2', 'top'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'gserve: error: "top" is a gserve command, not an app: run `gserve top` on its own. ' +
        'An app module with that name is given as a path: ./top\n',
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('a mistyped command with no app of that name is said at once, exit 2, no master started', async () => {
    const { dir } = appsNamedLikeCommands();
    const r = await runCli(['statsu'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'gserve: error: "statsu" is neither a gserve command nor an app module here. Did you mean `gserve status`?\n',
    );
  });

  it("PM2's `start APP` is told that gserve serves in the foreground, and how, exit 2", async () => {
    const r = await runCli(['start', 'app.js', '-w', '2'], { cwd: tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^gserve: error: too many arguments.*\ngserve has no "start" command: .* Run `gserve app\.js -w 2` /,
    );
  });

  it('./top is served as an app', async () => {
    const { dir } = appsNamedLikeCommands();
    const g = await startGserve(['./top'], { cwd: dir });
    expect((await get(g.url)).body).toBe('top');
  });
});

describe('output that cannot be written', () => {
  const run = (pipeline: string) =>
    spawnSync('bash', ['-o', 'pipefail', '-c', pipeline], { encoding: 'utf8', cwd: tempDir(), timeout: 20_000 });
  const gserve = `'${process.execPath}' '${BIN}'`;

  it('a full disk fails the command with one line (it exited 0); a reader that left is no failure', () => {
    const full = run(`${gserve} --print-config app:app > /dev/full`);
    expect(full.status).toBe(1);
    expect(full.stderr.trim()).toBe('gserve: error: cannot write the output: ENOSPC: no space left on device, write');
    expect(run(`${gserve} version > /dev/full`).status).toBe(1);
    const head = run(`${gserve} --print-config app:app | head -1`);
    expect(head.stdout).toMatch(/^app\s+= "app:app"/);
    expect(head.stderr).toBe('');
    expect(head.status).toBe(0);
  });
});

describe('gserve completion', () => {
  it('refuses a shell it does not know, exit 2', async () => {
    const r = await runCli(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('gserve: error: gserve completion needs one shell: bash, zsh, fish (got tcsh).\n');
  });

  it('bash: completes commands, every flag of the settings table, and the values of a choice', async () => {
    const script = (await runCli(['completion', 'bash'])).stdout;
    const file = join(tempDir(), 'gserve.bash');
    writeFileSync(file, script);
    expect(spawnSync('bash', ['-n', file]).status).toBe(0);
    const complete = (...words: string[]) => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); ` +
            `COMP_CWORD=${words.length - 1}; _gserve; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8', cwd: tempDir() },
      );
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(complete('gserve', 'st')).toEqual(['status', 'stop']);
    expect(complete('gserve', '--log-level', '')).toEqual(['debug', 'info', 'warning', 'error', 'critical']);
    expect(complete('gserve', '--lifespan', 'o')).toEqual(['on', 'off']);
    expect(complete('gserve', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
    const all = complete('gserve', '--');
    for (const s of flagged) expect(all, `--${flagOf(s)}`).toContain(`--${flagOf(s)}`);
    expect(all).toContain('--env-file');
    expect(all).toContain('--no-preload');
  });

  it('zsh and fish: every flag, with the choices of --log-level', async () => {
    const zsh = (await runCli(['completion', 'zsh'])).stdout;
    const fish = (await runCli(['completion', 'fish'])).stdout;
    expect(zsh).toMatch(/^#compdef gserve\n/);
    expect(zsh).toContain(
      "'--log-level[The least severe level written to the error log.]:log-level:(debug info warning error critical)'",
    );
    expect(fish).toContain(
      "-l log-level -x -a 'debug info warning error critical' -d 'The least severe level written to the error log.'",
    );
    for (const s of flagged) {
      expect(zsh, `--${flagOf(s)}`).toMatch(new RegExp(`--${flagOf(s)}(\\[|\\}'\\[)`));
      expect(fish, `--${flagOf(s)}`).toMatch(new RegExp(` -l ${flagOf(s)}\\b`));
    }
    for (const [shell, file] of [
      ['zsh', 'gserve.zsh'],
      ['fish', 'gserve.fish'],
    ] as const) {
      // Syntax-checked where the shell is installed.
      if (spawnSync(shell, ['--version']).error) continue;
      const path = join(tempDir(), file);
      writeFileSync(path, shell === 'zsh' ? zsh : fish);
      expect(spawnSync(shell, ['-n', path]).status).toBe(0);
    }
  });
});

describe('--env-file', () => {
  it('loads files in order before the settings resolve; the environment wins over the files', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'a.env'),
      '# settings and app variables\nGSERVE_WORKERS=2\nGREETING=from-a\nexport KEPT="from a"\nOVERRIDE=a\n',
    );
    writeFileSync(join(dir, 'b.env'), "GREETING='from-b'\n");
    writeFileSync(
      join(dir, 'app.mjs'),
      'export const app = (req, res) => res.end([process.env.GREETING, process.env.KEPT, ' +
        'process.env.OVERRIDE].join("|"));\n',
    );
    const g = await startGserve(['--env-file', 'a.env', '--env-file', 'b.env', 'app.mjs'], {
      cwd: dir,
      workers: 2,
      env: { OVERRIDE: 'env' },
    });
    expect(g.workerPids.size).toBe(2); // GSERVE_WORKERS from a.env counted
    expect((await get(g.url)).body).toBe('from-b|from a|env');
  });

  it('a missing file is one clear line naming it, and nothing starts', async () => {
    const dir = tempDir();
    const r = await runCli(['--env-file', 'missing.env', join(FIXTURES, 'apps/node-pid.js')], {
      cwd: dir,
      env: { XDG_RUNTIME_DIR: dir },
    });
    expect(r.killed).toBe(false);
    expect(r.code).not.toBe(0);
    // Node 20 reads --env-file even after the script path and stops first (nodejs/node#54232).
    expect(r.stderr).toMatch(
      new RegExp(
        `^(gserve: error: Cannot read env file ${join(dir, 'missing.env')} \\(no such file\\)\\. ` +
          `Check --env-file\\. \\[GSERVE_E_ENV_FILE\\]|\\S*node: missing\\.env: not found)\\n$`,
      ),
    );
  });

  it("gserve's own reader: a missing file named in one line (node -- stops Node 20 reading the flag)", async () => {
    const dir = tempDir();
    const r = await runCli(['--env-file', 'missing.env', join(FIXTURES, 'apps/node-pid.js')], {
      cwd: dir,
      env: { XDG_RUNTIME_DIR: dir },
      nodeArgs: ['--'],
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `gserve: error: Cannot read env file ${join(dir, 'missing.env')} (no such file). Check --env-file. ` +
        `[GSERVE_E_ENV_FILE]\n`,
    );
  });

  it('envFile in a config file: its variables reach the app, a set variable still wins', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.env'), 'GREETING=from-file\nOVERRIDE=file\n');
    writeFileSync(
      join(dir, 'gserve.config.json'),
      JSON.stringify({ app: 'app.mjs', envFile: ['app.env'], bind: ['127.0.0.1:0'] }),
    );
    writeFileSync(
      join(dir, 'app.mjs'),
      'export const app = (req, res) => res.end([process.env.GREETING, process.env.OVERRIDE].join("|"));\n',
    );
    const g = await startGserve([], { cwd: dir, noBind: true, env: { OVERRIDE: 'env' } });
    expect((await get(g.url)).body).toBe('from-file|env');
  });
});
