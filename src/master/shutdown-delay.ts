/**
 * `--shutdown-delay`: between TERM and the graceful stop, keep serving while the health check fails,
 * so that Kubernetes (whose endpoint removal races with the TERM it sends) and load balancers stop
 * routing here before the listeners close. One pending delay at a time; a fast stop cancels it.
 */
export class ShutdownDelay {
  private timer: NodeJS.Timeout | null = null;

  get pending(): boolean {
    return this.timer !== null;
  }

  /** Runs `then` after `seconds`, or at once when `seconds` is 0. */
  start(seconds: number, then: () => void): void {
    this.cancel();
    if (seconds <= 0) {
      then();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      then();
    }, seconds * 1000);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
