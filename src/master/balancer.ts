import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { BOARD_SLOTS, ConnectionBoard, NOT_ACCEPTING } from '../supervision/connection-board.js';
import type { MasterMessage } from '../worker/ipc-messages.js';
import { stopReading } from './node-handles.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * Keeps connections even over the workers that accept on one shared socket (async and thread
 * classes). The kernel gives a new connection to whichever worker reaches accept() first, and an
 * idle worker drains the whole queue: 50 keep-alive clients opening at once landed 50/0, 44/6,
 * 43/7 on two workers, and stayed there for their whole life, one core serving them all while
 * node:cluster's round-robin would have split them 25/25. Round-robin itself makes the master
 * accept every connection, which costs churning traffic (`Connection: close`) far more than it
 * gains. So each worker posts how many connections it holds on a board both sides share
 * (supervision/connection-board.ts), and only a worker clearly above the least loaded one hands a
 * new connection, before reading from it, to the master, which passes it to the least loaded
 * worker: only the uneven moments cost a hand-over (worker/balance.ts).
 */
export class ConnectionBalancer {
  private readonly board = ConnectionBoard.create();
  private readonly slots = new Map<WorkerProcess, number>();
  private readonly claimed = new Set<number>();
  /** How many connections the master has sent each slot's worker so far (the board shows it). */
  private readonly sent = new Map<number, number>();

  constructor(private readonly log: Logger) {}

  /** The board's descriptor, for the workers to inherit. */
  get fd(): number {
    return this.board.fd;
  }

  /** A free slot for the next worker, or null when all are taken (that worker serves unbalanced). */
  claim(): number | null {
    for (let slot = 0; slot < BOARD_SLOTS; slot++) {
      if (!this.claimed.has(slot)) {
        this.claimed.add(slot);
        return slot;
      }
    }
    return null;
  }

  /** The worker forked with `slot` (claimed for it). */
  hold(w: WorkerProcess, slot: number): void {
    this.slots.set(w, slot);
  }

  /** A claimed slot whose fork failed, or whose worker exited: it counts for nobody. */
  release(slot: number): void {
    this.board.clear(slot);
    this.sent.delete(slot);
    this.claimed.delete(slot);
  }

  workerGone(w: WorkerProcess): void {
    const slot = this.slots.get(w);
    if (slot === undefined) return;
    this.slots.delete(w);
    this.release(slot);
  }

  /**
   * `from` handed over `socket`: it goes to the ready worker of the same generation (the same
   * listeners) that holds the fewest connections, or back to `from` if there is none.
   */
  route(from: WorkerProcess, socket: Socket, listener: number, workers: Iterable<WorkerProcess>): void {
    socket.on('error', () => socket.destroy());
    // Within the tick it arrived in, before node's first read of it: the client's first bytes stay in
    // the kernel for the worker that gets the socket.
    if (!stopReading(socket)) return void socket.destroy();
    const all = [...workers];
    this.send(socket, listener, this.leastLoaded(from, all), all);
  }

  private leastLoaded(from: WorkerProcess, workers: WorkerProcess[], except?: WorkerProcess): WorkerProcess | null {
    const count = this.board.read();
    let to: WorkerProcess | null = null;
    let least = Number.POSITIVE_INFINITY;
    for (const w of workers) {
      const slot = this.slots.get(w);
      if (w === from || w === except || slot === undefined || w.state !== 'ready') continue;
      if (w.generation !== from.generation || !w.child.connected) continue;
      const n = count(slot);
      if (n !== NOT_ACCEPTING && n < least) {
        least = n;
        to = w;
      }
    }
    // The board may have moved since `from` looked: the other workers took a burst of their own.
    const fromSlot = this.slots.get(from);
    const fromHolds = fromSlot === undefined ? NOT_ACCEPTING : count(fromSlot);
    const fromTakes = from !== except && from.state === 'ready' && from.child.connected;
    if (to && fromTakes && fromHolds !== NOT_ACCEPTING && fromHolds < least) {
      this.log.debug('Connection given back to worker %d: it now holds the fewest', from.pid);
      return from;
    }
    if (to) {
      this.log.debug('Connection passed on from worker %d to worker %d', from.pid, to.pid);
      return to;
    }
    if (from === except || !from.child.connected) return null;
    this.log.debug('Connection given back to worker %d: no other worker can take it', from.pid);
    return from;
  }

  private countSent(to: WorkerProcess, n: number): void {
    const slot = this.slots.get(to);
    if (slot === undefined) return;
    const sent = ((this.sent.get(slot) ?? 0) + n) | 0;
    this.sent.set(slot, sent);
    this.board.credit(slot, sent);
  }

  /**
   * Sends `socket` to `to`. This process keeps its copy until the send is done, so that a worker that
   * died meanwhile does not lose the connection: it goes to the next least loaded worker instead.
   */
  private send(socket: Socket, listener: number, to: WorkerProcess | null, workers: WorkerProcess[], tries = 2): void {
    if (!to || tries === 0) return void socket.destroy();
    const message: MasterMessage = { t: 'conn', listener };
    // Counted at once, so that the next connection of the same burst sees it before the worker does.
    this.countSent(to, 1);
    const failed = () => {
      this.countSent(to, -1);
      this.send(socket, listener, this.leastLoaded(to, workers, to), workers, tries - 1);
    };
    try {
      // Once sent, this process's copy is ended: node then tells the worker that accepted it (whose
      // server.close() waits on that) that the socket is gone from here.
      to.child.send(message, socket, { keepOpen: true }, (err) => (err ? failed() : socket.destroy()));
    } catch {
      failed();
    }
  }
}

/** The balancer, or null (workers then serve as the kernel spreads them) if its board cannot be made. */
export function startBalancer(log: Logger): ConnectionBalancer | null {
  try {
    return new ConnectionBalancer(log);
  } catch (err) {
    log.warn('Connections will not be balanced over the workers: %s', err instanceof Error ? err.message : String(err));
    return null;
  }
}
