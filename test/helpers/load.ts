import { Agent, request } from 'node:http';

export interface LoadResult {
  total: number;
  statuses: Map<number, number>;
  errors: string[];
  /** Response header values seen (e.g. x-generation), with counts. */
  seen: Map<string, number>;
}

/**
 * A bounded client: `total` GETs, `connections` at a time on keep-alive connections, and every
 * `freshEvery`-th request on a new connection. Nothing is retried: a refused, reset or cut request
 * is an error.
 */
export async function runLoad(opts: {
  url: string;
  total: number;
  connections: number;
  freshEvery?: number;
  header?: string;
  /** A unix socket to send to, with `url` giving the path and Host. */
  socketPath?: string;
  /** Keep going past `total` until this settles (the signals a test sends during the load). */
  until?: Promise<unknown>;
}): Promise<LoadResult> {
  let untilDone = opts.until === undefined;
  void opts.until?.finally(() => (untilDone = true));
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const result: LoadResult = { total: 0, statuses: new Map(), errors: [], seen: new Map() };
  let next = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const fresh = opts.freshEvery !== undefined && i % opts.freshEvery === 0;
      const req = request(opts.url, { agent: fresh ? false : agent, socketPath: opts.socketPath }, (res) => {
        res.resume();
        res.on('end', () => {
          result.statuses.set(res.statusCode!, (result.statuses.get(res.statusCode!) ?? 0) + 1);
          const value = opts.header ? String(res.headers[opts.header]) : '';
          result.seen.set(value, (result.seen.get(value) ?? 0) + 1);
          resolve();
        });
        res.on('error', (err) => {
          result.errors.push(`response ${i}: ${err.message}`);
          resolve();
        });
      });
      req.on('error', (err) => {
        result.errors.push(`request ${i}: ${('code' in err && err.code) || err.message}`);
        resolve();
      });
      req.end();
    });
  const lane = async () => {
    while (next < opts.total || !untilDone) {
      const i = next++;
      await one(i);
      result.total++;
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, lane));
  agent.destroy();
  return result;
}
