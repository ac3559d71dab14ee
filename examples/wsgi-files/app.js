// A WSGI-style app doing synchronous file I/O: GET /files/NAME reads a file, PUT /files/NAME
// writes the request body (read synchronously from wsgi.input), GET / lists the folder.
// Synchronous code blocks its worker while it runs, as in Python: run several workers, and use
// the `sync` or `thread` worker class where available (see docs/interfaces.md).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const ROOT = process.env.FILES_DIR ?? join(import.meta.dirname, 'files');
mkdirSync(ROOT, { recursive: true });

export function app(environ, startResponse) {
  const path = environ.PATH_INFO;
  const method = environ.REQUEST_METHOD;
  if (path === '/' && method === 'GET') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    return [readdirSync(ROOT).join('\n') + '\n'];
  }
  const m = /^\/files\/([^/]+)$/.exec(path);
  if (!m) {
    startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
    return ['not found\n'];
  }
  const file = join(ROOT, basename(m[1]));
  if (method === 'PUT') {
    writeFileSync(file, environ['wsgi.input'].read());
    startResponse('201 Created', [
      ['Content-Type', 'text/plain'],
      ['Location', `/files/${basename(m[1])}`],
    ]);
    return ['stored\n'];
  }
  try {
    const data = readFileSync(file);
    startResponse('200 OK', [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Length', String(data.length)],
    ]);
    return [data];
  } catch {
    startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
    return ['no such file\n'];
  }
}
