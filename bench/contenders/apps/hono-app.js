// The same routes as a Hono app, served by @hono/node-server under node:cluster (node-cluster.js ... hono).
import { Hono } from 'hono';
import { HELLO, JSON_1K } from './routes.js';

export const app = new Hono();
app.get('/', (c) => c.text(HELLO));
app.get('/json', (c) => c.body(JSON_1K, 200, { 'content-type': 'application/json' }));
