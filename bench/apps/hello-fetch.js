// fetch interface: a bare handler that never reads the request.
export const app = (request) => new Response('Hello, world!');
