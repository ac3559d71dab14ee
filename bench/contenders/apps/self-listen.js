// The hand-written handler, listening itself (the PM2 style) on SELF_PORT: under gserve, what the
// worker process costs without gserve's HTTP layer (bench/cpu-per-request.js).
import { createServer } from 'node:http';
import { handler } from './handler.js';

createServer(handler).listen(Number(process.env.SELF_PORT), '127.0.0.1');
