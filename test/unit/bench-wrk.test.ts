import { describe, expect, it } from 'vitest';
// @ts-expect-error -- the bench is plain JavaScript, run by node without a build
import { parseWrk } from '../../bench/lib/wrk.js';

const report = (extra: string) => `Running 1s test @ http://127.0.0.1:8000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  500.00us  20.00ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    1.80ms
     99%    2.50s
  41234 requests in 1.00s, 5.00MB read
${extra}Requests/sec:  41234.56
Transfer/sec:      5.00MB
`;

describe('bench: reading wrk', () => {
  it('reads the rate, the percentiles in their units, and counts every socket error and non-2xx as failed', () => {
    expect(
      parseWrk(report('  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\n')),
    ).toEqual({
      rps: 41234.56,
      p50: 0.85,
      p99: 2500,
      requests: 41234,
      failed: 15,
    });
    expect(parseWrk(report('')).failed).toBe(0);
  });

  it('refuses output that is not a wrk report', () => {
    expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(
      /could not read wrk's output/,
    );
  });
});
