import { defineSetting } from '../spec.js';
import { oneOf, optionalString, string } from '../types.js';

const SECTION = 'Logging';

export const loggingSettings = [
  defineSetting({
    name: 'logLevel',
    gunicorn: { key: 'loglevel' },
    section: SECTION,
    meta: 'LEVEL',
    type: oneOf(['debug', 'info', 'warning', 'error', 'critical'], {
      warn: 'warning',
      fatal: 'critical',
      trace: 'debug',
    }),
    default: 'info',
    doc: 'The least severe level written to the error log.',
  }),
  defineSetting({
    name: 'errorLogfile',
    gunicorn: { key: 'errorlog', flag: 'log-file' },
    section: SECTION,
    meta: 'FILE',
    type: string(),
    default: '-',
    doc: 'Where the error log goes; `-` is stderr.',
  }),
  defineSetting({
    name: 'accessLogfile',
    gunicorn: { key: 'accesslog' },
    section: SECTION,
    meta: 'FILE',
    type: optionalString(),
    default: null,
    defaultDoc: 'off',
    doc: 'Where the access log goes; `-` is stdout.',
  }),
];
