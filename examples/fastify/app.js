// Fastify on the `node` interface. Fastify owns its HTTP server, so the supported way to mount it
// under another server is a factory: build the instance, wait for ready() (plugins loaded, routes
// compiled), then hand gserve the documented `fastify.routing(req, res)` entry point.
// The factory runs once per worker: `gserve examples/fastify/app:create()`.
import Fastify from 'fastify';

export async function create() {
  const fastify = Fastify({ logger: false });
  fastify.get('/', async () => ({ hello: 'fastify', worker: process.pid }));
  fastify.post('/echo', async (request) => ({ received: request.body }));
  await fastify.ready();
  return (req, res) => fastify.routing(req, res);
}
