// The built-in load generator: a fixed number of connections, each sending one request at a time for a fixed
// duration (a bounded, closed-loop load, like wrk's). It needs nothing outside Node, records every latency with the
// path it belongs to (so the head-of-line scenario can take the p99 of the fast requests only), and counts every
// failed request. wrk (bench/lib/wrk.js) is preferred for raw throughput when installed: it costs the shared CPU less.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

const HEADER_END = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('\r\n0\r\n\r\n');

/** Parses one complete response at the start of `buf`: { status, length, close } or null if more bytes are needed. */
function parseResponse(buf) {
  const headEnd = buf.indexOf(HEADER_END);
  if (headEnd < 0) return null;
  const head = buf.toString('latin1', 0, headEnd);
  const status = Number(head.slice(9, 12));
  const lower = head.toLowerCase();
  const close = /\r\nconnection:\s*close/.test(lower) || head.startsWith('HTTP/1.0');
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
  const bodyStart = headEnd + 4;
  if (cl) {
    const total = bodyStart + Number(cl[1]);
    return buf.length >= total ? { status, length: total, close } : null;
  }
  if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
    // Our apps never put this byte sequence in a body, so the first match is the terminating chunk.
    const end = buf.indexOf(CHUNKED_END, bodyStart - 2);
    return end < 0 ? null : { status, length: end + CHUNKED_END.length, close };
  }
  if (status === 204 || status === 304) return { status, length: bodyStart, close };
  return { status, length: -1, close: true }; // body runs to connection close
}

class Connection {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.waiting = null;
    this.dead = false;
    this.ready = new Promise((resolve, reject) => {
      this.socket = connect({ port, host: '127.0.0.1', noDelay: true }, resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.check(false);
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      this.dead = true;
      this.check(true);
    });
  }

  check(ended) {
    if (!this.waiting) return;
    const parsed = parseResponse(this.buf);
    if (parsed && parsed.length >= 0) {
      this.buf = this.buf.subarray(parsed.length);
      const w = this.waiting;
      this.waiting = null;
      w.resolve(parsed);
    } else if (parsed && ended) {
      this.buf = Buffer.alloc(0);
      const w = this.waiting;
      this.waiting = null;
      w.resolve(parsed);
    } else if (ended) {
      this.fail(new Error('connection closed before a full response'));
    }
  }

  fail(err) {
    this.dead = true;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  exchange(bytes, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new Error('connection closed'));
      const timer = setTimeout(() => {
        this.fail(new Error('timeout'));
        this.socket.destroy();
      }, timeoutMs);
      this.waiting = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write(bytes);
    });
  }

  close() {
    this.dead = true;
    this.socket.destroy();
  }
}

/**
 * Drives load at 127.0.0.1:port.
 * @param {object} o
 * @param {number} o.port
 * @param {number} o.durationMs how long to keep sending
 * @param {number} o.connections how many requests are in flight at once
 * @param {boolean} [o.close] send `Connection: close` and open a new connection per request
 * @param {(seq: number) => string} [o.pathFor] the path of the seq-th request (default '/')
 * @param {number} [o.timeoutMs] a request unanswered this long counts as failed
 * @returns {Promise<{requests: number, failed: number, errors: Record<string, number>, seconds: number, rps: number,
 *   latencies: Record<string, number[]>}>} latencies in ms, by path
 */
export async function runLoad({
  port,
  durationMs,
  connections,
  close = false,
  pathFor = () => '/',
  timeoutMs = 10_000,
}) {
  const requests = new Map();
  const bytesFor = (path) => {
    let b = requests.get(path);
    if (!b) {
      b = Buffer.from(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: gserve-bench\r\n${close ? 'Connection: close\r\n' : ''}\r\n`,
      );
      requests.set(path, b);
    }
    return b;
  };
  const latencies = {};
  const errors = {};
  let seq = 0;
  let ok = 0;
  let failed = 0;
  const noteError = (why) => {
    failed++;
    errors[why] = (errors[why] ?? 0) + 1;
  };
  const start = performance.now();
  const deadline = start + durationMs;

  async function user() {
    let conn = null;
    while (performance.now() < deadline) {
      const path = pathFor(seq++);
      const t0 = performance.now();
      try {
        if (!conn || conn.dead) {
          conn = new Connection(port);
          await conn.ready;
        }
        const res = await conn.exchange(bytesFor(path), timeoutMs);
        if (res.status >= 200 && res.status < 400) {
          ok++;
          (latencies[path] ??= []).push(performance.now() - t0);
        } else noteError(`HTTP ${res.status}`);
        if (close || res.close) {
          conn.close();
          conn = null;
        }
      } catch (err) {
        noteError(err.code ?? err.message);
        conn?.close();
        conn = null;
        // A refused connection returns at once: back off a little so a down server is not a busy loop.
        if (err.code === 'ECONNREFUSED') await new Promise((r) => setTimeout(r, 5));
      }
    }
    conn?.close();
  }

  await Promise.all(Array.from({ length: connections }, user));
  const seconds = (performance.now() - start) / 1000;
  return { requests: ok + failed, ok, failed, errors, seconds, rps: ok / seconds, latencies };
}
