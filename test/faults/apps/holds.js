// /hold: answered only once the file $RELEASE_FILE exists (the test creates it when it is ready);
// its arrival is printed as `held /hold`. Anything else is answered at once.
import { existsSync } from 'node:fs';

export const app = (req, res) => {
  if (req.url !== '/hold') return res.end('ok\n');
  console.log(`held ${req.url}`);
  const poll = setInterval(() => {
    if (!existsSync(process.env.RELEASE_FILE)) return;
    clearInterval(poll);
    res.end('released\n');
  }, 20);
};
