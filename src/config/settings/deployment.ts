import { defineSetting } from '../spec.js';
import { optionalString, seconds, TypeMismatch, type ValueType } from '../types.js';

/** A URL path like `/healthz`, or null for off. */
function optionalPath(): ValueType<string | null> {
  const base = optionalString();
  return {
    ...base,
    expected: 'a URL path starting with / (like /healthz), or null',
    parse(raw) {
      const value = base.parse(raw);
      if (value === null || value === '') return null;
      if (!/^\/[^\s?#]*$/.test(value))
        throw new TypeMismatch(
          `expected a URL path starting with / and without a query (like /healthz), got ${JSON.stringify(value)}`,
        );
      return value;
    },
  };
}

const SECTION = 'Deployment';

export const deploymentSettings = [
  defineSetting({
    name: 'healthPath',
    section: SECTION,
    meta: 'PATH',
    type: optionalPath(),
    default: null,
    defaultDoc: 'off',
    doc:
      'A path gserve answers itself, before the app: `200 OK` while serving, ' +
      '`503` from the moment a graceful stop (or the `--shutdown-delay` before it) begins, ' +
      'so that a load balancer or a Kubernetes readiness probe stops sending traffic before the workers exit. ' +
      'For example `/healthz`.',
  }),
  defineSetting({
    name: 'shutdownDelay',
    section: SECTION,
    meta: 'SECONDS',
    type: seconds(),
    default: 0,
    doc:
      'On TERM, first fail the health check and keep serving for this long, then stop gracefully. ' +
      'Covers the time Kubernetes and load balancers take to stop routing to a pod after it starts terminating (a ' +
      'few seconds). INT or QUIT during the delay stops at once.',
  }),
];
