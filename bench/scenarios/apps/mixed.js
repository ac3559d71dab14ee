// The head-of-line app: /slow blocks its event loop for 50 ms (blocking code: a synchronous
// driver, CPU work); everything else answers at once.
export function app(req, res) {
  if (req.url.startsWith('/slow')) {
    const until = performance.now() + 50;
    while (performance.now() < until);
  }
  res.setHeader('content-type', 'text/plain');
  res.end('ok\n');
}
