// An app whose import never finishes and never yields (a loop at its top level): its worker's event
// loop is blocked before it is ever ready, so only the orphan reaper can end it once the master dies.
while (true) {}
export const app = (req, res) => res.end('never');
