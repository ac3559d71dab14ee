// What PM2's cluster mode runs in each instance: the same handler on the port PM2's ecosystem file gives.
import { createServer } from 'node:http';
import { handler } from './apps/handler.js';

createServer(handler).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
