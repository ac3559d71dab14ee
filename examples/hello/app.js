// The `node` interface: a plain (req, res) listener, as Express, Connect and Koa's app.callback() are.
// Run: npx gserve -w 2 examples/hello/app:app
export function app(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end(`Hello, world! (worker ${process.pid})\n`);
}
