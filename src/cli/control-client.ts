import { connect } from 'node:net';
import { errorCode, errorMessage } from '../errors.js';
import type { ControlRequest, StatusReport } from '../master/control.js';

// The client side of the control socket: one request line out, one reply line back.

/**
 * Sends one request line and resolves with the master's one reply line. `timeoutMs`: for a command the master
 * answers at once (status, stop), how long a master that does not answer (stopped by SIGSTOP, its
 * loop blocked) is waited for; reload and scale answer when done, within the master's own deadlines.
 */
export function ask(path: string, request: ControlRequest, timeoutMs = 0): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    if (timeoutMs > 0)
      socket.setTimeout(timeoutMs, () => {
        // The request went out: a master that is only paused still reads it, and acts, once it runs.
        reject(Object.assign(new Error('timeout'), { unanswered: timeoutMs / 1000 }));
        socket.destroy();
      });
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      socket.destroy();
      try {
        resolve(ControlReply.parse(buffer.slice(0, nl)));
      } catch {
        reject(new Error('a reply that is not JSON'));
      }
    });
    socket.on('error', reject);
    socket.on('close', () =>
      reject(
        Object.assign(new Error('closed'), {
          code: 'the master closed the connection without answering; is it stopping?',
        }),
      ),
    );
  });
}

/** Why `ask()` got no answer, said the way an operator can act on it. */
export function noAnswer(path: string, err: unknown): string {
  const unanswered = (err as { unanswered?: number }).unanswered;
  if (unanswered !== undefined)
    return (
      `the master on ${path} took the request but has not answered within ${unanswered} s: it is stopped ` +
      '(SIGSTOP) or its loop is blocked. It will still act on the request once it runs again: check with ' +
      '`gserve status` before sending it again, or before a kill -9.'
    );
  const code = errorCode(err) ?? errorMessage(err);
  if (code === 'EACCES' || code === 'EPERM')
    return (
      `the control socket ${path} is not yours to use (${code}): a master lets only its own user in. ` +
      "Run the command as the master's user (or root)."
    );
  return `no gserve master answers on ${path} (${code}). Is it running? Point to it with --control-socket, --pid or -c.`;
}

/**
 * The master's reply line on the control socket (`{"ok":true,...}` or `{"ok":false,"error":"..."}`),
 * read field by field. It comes from another process, so each field is checked before use: a reply
 * without the field a command expects throws, and the caller reports it like any other failure.
 */
export class ControlReply {
  private constructor(private readonly fields: Record<string, unknown>) {}

  /** Throws on a line that is not a JSON object. */
  static parse(line: string): ControlReply {
    const value: unknown = JSON.parse(line);
    if (!isRecord(value)) throw new Error('a reply that is not a JSON object');
    return new ControlReply(value);
  }

  get ok(): boolean {
    return this.fields.ok === true;
  }

  /** Why the master said no. */
  get error(): string {
    return String(this.fields.error);
  }

  /** A field the way the master sent it, for --json. */
  raw(name: string): unknown {
    return this.fields[name];
  }

  number(name: string): number {
    const value = this.fields[name];
    if (typeof value !== 'number') throw new Error(`a reply without a number in "${name}"`);
    return value;
  }

  /** A list of pids (`workers` in the replies to reload and scale). */
  pids(name: string): number[] {
    const value = this.fields[name];
    const pids = Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : [];
    if (!Array.isArray(value) || pids.length !== value.length)
      throw new Error(`a reply without a list of pids in "${name}"`);
    return pids;
  }

  /** The reply to `status`: what ControlServer.status() built. */
  status(): StatusReport {
    const value = this.fields.status;
    if (!isStatusReport(value)) throw new Error('a reply without a status');
    return value;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The parts of a status that gserve's own readers use (status, top, the API's start()). */
function isStatusReport(value: unknown): value is StatusReport {
  if (!isRecord(value) || !isRecord(value.master) || !isRecord(value.restarts) || !Array.isArray(value.workers))
    return false;
  const { pid, bind, workers } = value.master;
  return (
    typeof pid === 'number' &&
    Array.isArray(bind) &&
    typeof workers === 'number' &&
    value.workers.every((w) => isRecord(w) && typeof w.pid === 'number' && typeof w.state === 'string')
  );
}
