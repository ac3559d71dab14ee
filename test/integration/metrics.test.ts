import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, isAlive, startGserve, type Gserve } from '../helpers/gserve.js';
import { get } from '../helpers/http.js';
import { pollUntil } from '../helpers/poll.js';

const app = join(FIXTURES, 'apps', 'observe') + ':app';

async function metricsUrl(g: Gserve): Promise<string> {
  const [line] = await g.waitForLog(/^Metrics at: /);
  return line!.msg.slice('Metrics at: '.length);
}

/** Parses Prometheus text into `name{labels}` -> value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const r = await get(url);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  const values = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (!line || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(m, `a valid sample line: ${line}`).not.toBeNull();
    values.set(m![1]!, m![2] === '+Inf' ? Infinity : Number(m![2]));
  }
  return values;
}

const sendHeld = (url: string) =>
  new Promise<void>((resolve, reject) => {
    request(url + '/hold', { agent: false }, (res) => res.resume().on('end', () => resolve()))
      .on('error', reject)
      .end();
  });

describe('Prometheus metrics', () => {
  it('counts requests by method and status class, with a duration histogram, bytes and in-flight', async () => {
    const g = await startGserve(['-w', '2', '--metrics-bind', '127.0.0.1:0', app]);
    const url = await metricsUrl(g);
    for (let i = 0; i < 3; i++) expect((await get(g.url + '/')).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await get(g.url + '/missing', { method: 'POST', body: 'x' })).status).toBe(404);
    await get(g.url + '/', { method: 'HEAD' });
    const m = await pollUntil(async () => {
      const m = await scrape(url);
      return m.get('gserve_http_request_duration_seconds_count') === 6 && m;
    }, 'six requests in the metrics');
    expect(m.get('gserve_http_requests_total{method="GET",status="2xx"}')).toBe(3);
    expect(m.get('gserve_http_requests_total{method="POST",status="4xx"}')).toBe(2);
    expect(m.get('gserve_http_requests_total{method="HEAD",status="2xx"}')).toBe(1);
    const buckets = [...m]
      .filter(([k]) => k.startsWith('gserve_http_request_duration_seconds_bucket'))
      .map(([, v]) => v);
    expect(buckets).toHaveLength(12);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b)); // cumulative
    expect(m.get('gserve_http_request_duration_seconds_bucket{le="+Inf"}')).toBe(6);
    expect(m.get('gserve_http_request_duration_seconds_sum')).toBeGreaterThan(0);
    // Six request heads of at least 40 bytes each came in; six response heads and bodies went out.
    expect(m.get('gserve_http_received_bytes_total')).toBeGreaterThan(6 * 40);
    expect(m.get('gserve_http_sent_bytes_total')).toBeGreaterThan(6 * 60);
    expect(m.get('gserve_http_requests_in_flight')).toBe(0);
    expect(m.get('gserve_workers{state="ready"}')).toBe(2);
    for (const pid of g.workerPids) {
      expect(m.get(`gserve_worker_event_loop_delay_seconds{pid="${pid}",stat="p99"}`)).toBeGreaterThanOrEqual(0);
      expect(m.get(`gserve_worker_resident_memory_bytes{pid="${pid}"}`)).toBeGreaterThan(1_000_000);
    }

    const held = sendHeld(g.url);
    await pollUntil(
      async () => (await scrape(url)).get('gserve_http_requests_in_flight') === 1,
      'one request in flight',
    );
    expect((await scrape(url)).get('gserve_workers{state="busy"}')).toBe(1);
    // /release frees held requests of the worker that gets it: ask until the right one has.
    let released = false;
    void held.then(() => (released = true));
    await pollUntil(async () => {
      await get(g.url + '/release');
      return released;
    }, 'the held request released');
    expect((await get(url.replace('/metrics', '/nope'))).status).toBe(404);
  });

  it('counts restarts by reason, and counters survive the worker that made them', async () => {
    const g = await startGserve(['-w', '2', '--timeout', '3', '--metrics-bind', '127.0.0.1:0', app]);
    const url = await metricsUrl(g);
    for (let i = 0; i < 4; i++) await get(g.url + '/');
    await pollUntil(
      async () => (await scrape(url)).get('gserve_http_requests_total{method="GET",status="2xx"}') === 4,
      'four requests counted',
    );
    const victim = [...g.workerPids].find(isAlive);
    process.kill(victim!, 'SIGKILL');
    let m = await pollUntil(async () => {
      const m = await scrape(url);
      return m.get('gserve_worker_restarts_total{reason="crash"}') === 1 && m;
    }, 'a crash restart');
    expect(m.get('gserve_http_requests_total{method="GET",status="2xx"}')).toBe(4);

    // A blocked event loop: the heartbeat timeout replaces the worker.
    request(g.url + '/block', { agent: false })
      .on('error', () => {})
      .end();
    m = await pollUntil(async () => {
      const m = await scrape(url);
      return m.get('gserve_worker_restarts_total{reason="timeout"}')! >= 1 && m;
    }, 'a timeout restart');
    expect(m.get('gserve_worker_restarts_total{reason="crash"}')).toBe(1);
    expect(m.get('gserve_worker_restarts_total{reason="reload"}')).toBe(0);
    await g.waitForWorkers(4);
  });
});
