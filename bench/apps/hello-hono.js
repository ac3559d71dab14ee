// The same Hono app, served by gserve (fetch interface) and by @hono/node-server.
import { Hono } from 'hono';

export const app = new Hono();
app.get('/', (c) => c.text('Hello, world!'));
