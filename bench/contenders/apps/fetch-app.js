// A plain `fetch` app (no framework), the same routes as handler.js: gserve's gateway path on its own engine.
import { HELLO, JSON_1K } from './routes.js';

const text = { 'content-type': 'text/plain' };
const json = { 'content-type': 'application/json' };

export const app = {
  fetch(request) {
    // Only the path is needed: slicing the URL string avoids building a URL object per request.
    const url = request.url;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    const end = url.indexOf('?', start);
    const path = end < 0 ? url.slice(start) : url.slice(start, end);
    return path === '/json' ? new Response(JSON_1K, { headers: json }) : new Response(HELLO, { headers: text });
  },
};
