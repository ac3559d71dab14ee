// Hono on the `fetch` interface: the Hono app has a fetch(request) method, so detection picks
// `fetch` and the app runs on gserve's own HTTP engine with the lazy-request fast path.
import { Hono } from 'hono';

export const app = new Hono();
app.get('/', (c) => c.text(`Hello from Hono! (worker ${process.pid})\n`));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') ?? null }));
app.post('/echo', async (c) => c.json({ received: await c.req.json() }));
