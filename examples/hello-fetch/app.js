// The `fetch` interface: a web-standard (Request) => Response handler, as Hono and itty-router export.
// Run: npx gserve -w 2 examples/hello-fetch/app:app
export const app = {
  fetch(request) {
    const url = new URL(request.url);
    return new Response(`Hello from ${url.pathname}! (worker ${process.pid})\n`, {
      headers: { 'content-type': 'text/plain' },
    });
  },
};
