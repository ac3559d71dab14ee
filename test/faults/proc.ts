import { readdirSync, readFileSync } from 'node:fs';

/** Processes the way /proc shows them: a pid with its start time, so a reused pid is not mistaken for it. */
export interface Proc {
  pid: number;
  ppid: number;
  start: string;
  state: string;
}

function readStat(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields that follow start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! };
  } catch {
    return null;
  }
}

/** Every descendant of `root` now (children, grandchildren, …), from /proc. */
export function descendants(root: number): Proc[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readStat(Number(d)))
    .filter((p): p is Proc => p !== null);
  const out: Proc[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}

/** Those of `procs` still alive (same pid and start time; a zombie is gone too). */
export function survivors(procs: Proc[]): Proc[] {
  return procs.filter((p) => {
    const now = readStat(p.pid);
    return now !== null && now.start === p.start && now.state !== 'Z';
  });
}

/** Waits until none of `procs` lives; returns the orphans left at the deadline (empty when all are gone). */
export async function orphansAfter(procs: Proc[], timeoutMs: number): Promise<Proc[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = survivors(procs);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function killAll(procs: Proc[]): void {
  for (const p of survivors(procs)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A process's command line, its arguments joined by spaces ('' once it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The gserve workers below `root`: its descendants that node runs the worker script in (not the orphan reaper). */
export function workerProcesses(root: number): Proc[] {
  return descendants(root).filter((p) => {
    const [program = '', ...args] = commandLine(p.pid).split(' ');
    return !program.endsWith('/sh') && args.some((arg) => arg.endsWith('/worker/main.js'));
  });
}
