// A worker that serves two requests, then exits 0 on its third: it proved itself by serving.
let n = 0;
export const app = (req, res) => {
  if (++n === 3) process.exit(0);
  res.setHeader('x-worker-pid', String(process.pid));
  res.end('ok\n');
};
