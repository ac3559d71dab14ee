// @hono/node-server serving bench/apps/hello-hono.js on $PORT, one process, for comparison.
import { serve } from '@hono/node-server';
import { app } from './hello-hono.js';

serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' }, (info) =>
  console.log(`listening ${info.port}`),
);
