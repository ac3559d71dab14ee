// /throw: an uncaught exception outside the request (a timer callback); /reject: an unhandled rejection.
export const app = (req, res) => {
  if (req.url === '/throw')
    setImmediate(() => {
      throw new TypeError('kaboom from a timer');
    });
  if (req.url === '/reject') Promise.reject(new RangeError('rejected and never caught'));
  if (req.url === '/block') for (;;);
  res.setHeader('x-worker-pid', String(process.pid));
  res.end('ok\n');
};
