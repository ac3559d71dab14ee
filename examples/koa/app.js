// Koa on the `node` interface: gserve sees the Koa app (it has callback()) and serves app.callback().
import Koa from 'koa';

export const app = new Koa();
app.use(async (ctx) => {
  if (ctx.path === '/') ctx.body = `Hello from Koa! (worker ${process.pid})\n`;
  else if (ctx.path === '/headers') {
    ctx.set('x-powered-by', 'koa');
    ctx.body = { userAgent: ctx.get('user-agent') };
  }
});
