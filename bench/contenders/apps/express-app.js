// A real Express app: body parsing, a middleware and a route parameter, hosted unchanged by node:cluster and gserve.
import express from 'express';
import { HELLO } from './routes.js';

export const app = express();
app.use(express.json());
app.use((req, res, next) => {
  res.setHeader('x-served-by', 'bench');
  next();
});
app.get('/users/:id', (req, res) => res.json({ id: req.params.id, name: `user-${req.params.id}` }));
app.get('/', (req, res) => res.type('text').send(HELLO));
