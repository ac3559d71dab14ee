/**
 * The messages one side of a thread pair posts during one turn of its event loop, sent as one
 * message when the turn ends. Each postMessage costs a copy and a wake-up of the other thread
 * (measured: about as much as the main thread's whole work for a request), so a busy main thread
 * sends a thread all its new requests at once, and a thread sends back all the answers it finished.
 */
export class Outbox<Wire> {
  private wires: Wire[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  private readonly flushSoon = () => this.flush();

  constructor(private readonly post: (wires: Wire[], transfer: ArrayBuffer[]) => void) {}

  add(wire: Wire, transfer?: readonly ArrayBuffer[]): void {
    this.wires.push(wire);
    if (transfer) for (const buffer of transfer) this.transfer.push(buffer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  /** Posts what is gathered now: before an app thread starts its next request, or exits. */
  flush(): void {
    this.scheduled = false;
    if (this.wires.length === 0) return;
    const { wires, transfer } = this;
    this.wires = [];
    this.transfer = [];
    this.post(wires, transfer);
  }
}
