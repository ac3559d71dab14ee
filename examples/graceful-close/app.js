// A fetch app that holds a real resource, an open file handle for its audit log, and closes it
// when its worker stops: gserve calls the exported close() once the worker's in-flight requests
// have finished (TERM, HUP, scale down, recycling), within --graceful-timeout.
//
//   AUDIT_LOG=/tmp/audit.log gserve examples/graceful-close/app.js
//   curl 'localhost:8000/?ms=2000' &  kill -TERM <master pid>  # the request finishes, then "closed"
import { open } from 'node:fs/promises';

const audit = await open(process.env.AUDIT_LOG ?? 'audit.log', 'a');
let served = 0;

export async function app(request) {
  const ms = Number(new URL(request.url).searchParams.get('ms') ?? 0);
  await audit.appendFile(`${process.pid} start ${ms}\n`);
  await new Promise((resolve) => setTimeout(resolve, ms));
  served += 1;
  await audit.appendFile(`${process.pid} end ${ms}\n`);
  return new Response(`done after ${ms} ms\n`);
}

// Runs after the last in-flight request; gserve waits for the promise.
export async function close() {
  await audit.appendFile(`${process.pid} closed after ${served} requests\n`);
  await audit.close();
}
