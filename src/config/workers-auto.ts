import { cpuLimit } from './cpus.js';
import { integer, TypeMismatch, type ValueType } from './types.js';

/**
 * A worker count, or `auto`: one worker per CPU this process may use (cgroup quota and CPU
 * affinity, see src/config/cpus.ts). `auto` becomes a number here, when the settings are resolved
 * (and again on each reload), so everything downstream sees an integer.
 */
export function workerCount(opts: { min: number; max: number }): ValueType<number> {
  const count = integer(opts);
  const expected = `${count.expected}, or auto (one per CPU this process may use)`;
  return {
    expected,
    schema: { oneOf: [count.schema, { const: 'auto' }] },
    parse(raw) {
      if (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') return Math.min(opts.max, cpuLimit().cpus);
      try {
        return count.parse(raw);
      } catch (err) {
        if (err instanceof TypeMismatch) throw new TypeMismatch(err.message.replace(count.expected, expected));
        throw err;
      }
    },
  };
}
