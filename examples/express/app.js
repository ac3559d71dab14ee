// Express on the `node` interface: the Express app is itself a (req, res, next) listener.
import express from 'express';

export const app = express();
app.use(express.json());
app.get('/', (req, res) => res.type('text').send(`Hello from Express! (worker ${process.pid})\n`));
app.post('/echo', (req, res) => res.json({ received: req.body }));
