import { describe, expect, it } from 'vitest';
import { noAnswer } from '../../src/cli/control-client.js';

const failure = (code: string) => Object.assign(new Error(code), { code });

describe('noAnswer', () => {
  it("says a socket the caller may not open is another user's, not that no master runs", () => {
    expect(noAnswer('/run/app/app.ctl', failure('EACCES'))).toBe(
      'the control socket /run/app/app.ctl is not yours to use (EACCES): a master lets only its own user in. ' +
        "Run the command as the master's user (or root).",
    );
    expect(noAnswer('/run/app/app.ctl', failure('ECONNREFUSED'))).toMatch(
      /^no gserve master answers on \/run\/app\/app\.ctl \(ECONNREFUSED\)\. Is it running\?/,
    );
  });
});
