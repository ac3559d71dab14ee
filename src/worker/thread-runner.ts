import { Duplex } from 'node:stream';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Socket } from 'node:net';
import { AppLoadError, describeError } from '../errors.js';
import type { InterfaceChoice } from '../interfaces/detect.js';
import { createLogger, type LogLevel } from '../log/logger.js';
import type { ProtocolServer } from '../http/protocol.js';
import { protocolOptions } from './async.js';
import { configureGateway, type GatewaySettings } from '../interfaces/gateway.js';
import { startLifespan, type LifespanMode } from '../interfaces/lifespan.js';
import { markUnixPeer, setForwardedAllowIps } from '../http/proxy.js';
import { loadHostedApp, protocolFor } from './hosted.js';
import type { FromThread, Peer, ThreadBoot, ToThread } from './thread-protocol.js';

/**
 * One app thread of a `thread` worker. It loads its own instance of the app and runs it behind
 * the same HTTP implementation the other classes use (`protocolFor`), fed one request at a time
 * through an in-memory socket. So every interface that `loadHostedApp` + `protocolFor` support
 * runs here with no thread-specific code.
 */
const boot = workerData as ThreadBoot;
const port = parentPort!;
const settings = boot.settings;
const log = createLogger({ level: settings.logLevel as LogLevel, file: settings.errorLogfile as string, json: Boolean(settings.logJson) || (Boolean(settings.captureOutput) && settings.errorLogfile === '-') }).logger.child({ thread: threadId });
const post = (message: FromThread) => port.postMessage(message);
/** Response bytes gathered before they are posted at once. */
const FLUSH_BYTES = 64 * 1024;
/** Response bytes a thread may have on their way to a client before its app's writes wait. */
const WINDOW_BYTES = 1024 * 1024;

/** The in-memory socket one exchange is replayed on. */
class ExchangeSocket extends Duplex {
  private reported = false;
  /** Response bytes not yet posted: small writes of one turn of the loop travel in one message. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Bytes posted that the main thread has not yet written out to the client (it acks them). */
  private unacked = 0;
  /** Write callbacks held while too much is unacked: the app's stream then fills and says so. */
  private held: Array<() => void> = [];
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  remoteFamily = 'IPv4';
  /** Set from the peer: true when the client's connection is TLS. */
  encrypted = false;

  constructor(readonly id: number, peer: Peer) {
    super({ allowHalfOpen: true });
    const { unixPeer, ...address } = peer;
    Object.assign(this, address);
    if (unixPeer) markUnixPeer(this);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.reported) {
      cb();
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // An app streaming on microtasks (awaiting 'drain') never reaches setImmediate: flush by size too.
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (this.unacked + this.pendingBytes > WINDOW_BYTES) this.held.push(() => cb());
    else cb();
  }

  /** The main thread wrote `bytes` out to the client: the app may go on. */
  acked(bytes: number): void {
    this.unacked -= bytes;
    if (this.unacked + this.pendingBytes <= WINDOW_BYTES) for (const cb of this.held.splice(0)) cb();
  }

  private takePending(): Buffer | undefined {
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    return chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  private flush(): void {
    this.flushScheduled = false;
    const chunk = this.reported ? undefined : this.takePending();
    if (!chunk) return;
    this.unacked += chunk.length;
    post({ t: 'data', id: this.id, chunk });
  }

  /** The implementation ended its side: whatever it wrote is the whole answer (a close-delimited body ends here). */
  override _final(cb: (err?: Error | null) => void): void {
    this.report(false);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.held.length = 0;
    this.report(true);
    cb(err);
  }

  /** Tells the main thread this exchange is over, once. */
  report(aborted: boolean): void {
    if (this.reported) return;
    const chunk = this.takePending();
    this.reported = true;
    post(chunk ? { t: 'done', id: this.id, aborted, chunk } : { t: 'done', id: this.id, aborted });
  }

  // What net.Socket users (node:http, the engine) call; there is no real socket under this one.
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address() {
    return { address: this.localAddress ?? '127.0.0.1', port: this.localPort ?? 0, family: 'IPv4' };
  }
}

async function main(): Promise<void> {
  let app;
  // Each thread is its own module world: its gateway settings and ASGI lifespan are its own.
  configureGateway(settings as unknown as GatewaySettings);
  setForwardedAllowIps(settings.forwardedAllowIps as string[]);
  try {
    app = await loadHostedApp(settings.app as string, settings.interface as InterfaceChoice, boot.cwd);
    await startLifespan(app, settings.lifespan as LifespanMode, { info: (m) => log.info(m), error: (m) => log.error(m) });
  } catch (err) {
    const code = err instanceof AppLoadError ? err.code : 'GSERVE_E_APP_LOAD';
    post({ t: 'load-error', code, message: err instanceof AppLoadError ? err.message : `Failed to load the app in a thread: ${describeError(err)}` });
    process.exit(1);
  }
  const protocols: ProtocolServer[] = boot.schemes.map((scheme) => {
    const protocol = protocolFor(app, protocolOptions(settings, log, scheme));
    // A thread holds one exchange at a time (the pool sees to it), so "a response finished" is
    // about the current one, whatever the HTTP implementation passes with the event. Its bytes have
    // all been written by then; the socket is let go on the next turn, once the implementation is done with it.
    protocol.on('response', () => {
      const socket = current;
      if (!socket) return;
      socket.report(false);
      setImmediate(() => socket.destroy());
    });
    return protocol;
  });
  let current: ExchangeSocket | null = null;
  const sockets = new Map<number, ExchangeSocket>();

  port.on('message', (m: ToThread) => {
    if (m.t === 'open') {
      const socket = new ExchangeSocket(m.id, m.peer);
      sockets.set(m.id, socket);
      current = socket;
      socket.on('error', () => socket.destroy());
      // The exchange is over once reported; the implementation's own hold on the socket is released.
      socket.once('close', () => {
        sockets.delete(m.id);
        if (current === socket) current = null;
      });
      protocols[m.listener]!.accept(socket as unknown as Socket);
      socket.push(Buffer.from(m.head.buffer, m.head.byteOffset, m.head.byteLength));
    } else if (m.t === 'data') {
      sockets.get(m.id)?.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
    } else if (m.t === 'abort') {
      sockets.get(m.id)?.destroy();
    } else if (m.t === 'ack') {
      sockets.get(m.id)?.acked(m.bytes);
    }
  });
  post({ t: 'ready' });
  const timeout = (settings.timeout as number) * 1000;
  if (timeout > 0) setInterval(() => post({ t: 'beat' }), Math.min(1000, timeout / 4)).unref();
}

process.on('unhandledRejection', (reason) => {
  log.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'Unhandled promise rejection in the app');
});

void main();
