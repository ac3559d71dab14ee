// node interface: the plain (req, res) hello world.
export function app(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end('Hello, world!');
}
