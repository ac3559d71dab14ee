// Leaks LEAK_KB (default 512) per request and reports its own peak RSS (the kernel's high-water
// mark) in x-max-rss, so a test sees how far past --max-worker-memory a worker ever got.
const kept = [];
const size = Number(process.env.LEAK_KB ?? 512) * 1024;
export const app = (req, res) => {
  const chunk = Buffer.alloc(size, 1);
  kept.push(chunk);
  res.setHeader('x-max-rss', String(process.resourceUsage().maxRSS * 1024));
  res.setHeader('x-worker-pid', String(process.pid));
  res.end('ok\n');
};
