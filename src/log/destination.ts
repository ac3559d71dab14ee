import sonicBoom from 'sonic-boom';

// A CommonJS module: Node's ESM import sees only its default export, which carries the class.
const { SonicBoom } = sonicBoom;

/**
 * A log file (appended to, its folder made) or a standard stream, written through sonic-boom, the
 * writer pino itself uses. A destination that fails (EPIPE when a piped reader went away, EIO when
 * the terminal closed, ENOSPC) is given up: sonic-boom would otherwise retry the failed write forever
 * at the next flush, or throw the error where nothing catches it. Losing log lines must never stop a
 * server, nor a graceful shutdown.
 */
export function openDestination(file: string, standardFd: 1 | 2, sync: boolean): InstanceType<typeof SonicBoom> {
  const toStandard = file === '-';
  const dest = new SonicBoom({ dest: toStandard ? standardFd : file, sync, mkdir: !toStandard, append: true });
  dest.on('error', () => {
    const noop = () => true;
    dest.write = noop;
    dest.flushSync = noop;
    dest.reopen = noop;
    dest.end = noop;
  });
  return dest;
}
