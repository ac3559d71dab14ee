/**
 * What the worker's main thread and its app threads say to each other. The main thread owns the
 * client sockets and frames requests; each request ("exchange") is replayed to one thread as
 * plain HTTP/1.1 bytes, and the thread's response bytes come back to be parsed and written.
 */

/** What a thread is started with (worker_threads workerData). */
export interface ThreadBoot {
  settings: Record<string, unknown>;
  cwd: string;
  /** The scheme of each listener, by listener index. */
  schemes: Array<'http' | 'https'>;
}

export interface Peer {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  /** The connection is TLS: the app's socket says so, as node's does (Express's `req.protocol`). */
  encrypted?: boolean;
  remoteFamily?: string;
  /** Came in on a `unix:` listener: its forwarded headers are trusted (src/http/proxy.ts). */
  unixPeer?: boolean;
}

export type ToThread =
  /** A new request: its head; body bytes follow as `data`. */
  | { t: 'open'; id: number; listener: number; head: Uint8Array; peer: Peer }
  | { t: 'data'; id: number; chunk: Uint8Array }
  /** The client went away: drop the request. */
  | { t: 'abort'; id: number }
  /** `bytes` of the response have been written out to the client (flow control: the thread keeps at most a window unacked). */
  | { t: 'ack'; id: number; bytes: number };

export type FromThread =
  | { t: 'ready' }
  /** The thread's event loop turns (sent while `--timeout` is on). */
  | { t: 'beat' }
  /** The app failed to load in this thread; the thread exits after sending this. */
  | { t: 'load-error'; code: string; message: string }
  /** Response bytes; the main thread acks each once written out. */
  | { t: 'data'; id: number; chunk: Uint8Array }
  /** The response is complete, or abandoned (`aborted`: the thread's side closed without finishing it). */
  | { t: 'done'; id: number; aborted: boolean; /** The last response bytes, sent with the end to save a message. */ chunk?: Uint8Array };
