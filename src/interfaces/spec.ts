import { AppLoadError } from '../errors.js';

export interface AppSpec {
  /** The module part: a path relative to the working directory, or a package name. */
  module: string;
  /** The export to use; null means `app`, then the default export. */
  attr: string | null;
  /** Arguments when ATTR is a call (`create("prod", 3)`): a factory called once per worker. */
  args: unknown[] | null;
  /** The spec the way the user wrote it, for messages. */
  text: string;
}

const SPEC = /^([^:]+?)(?::([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)?(?:\((.*)\))?)?$/s;

export function parseAppSpec(text: string): AppSpec {
  const m = SPEC.exec(text.trim());
  if (!m) {
    throw new AppLoadError(
      'GSERVE_E_APP_SPEC',
      `Cannot read APP ${JSON.stringify(text)}: write it in the form MODULE[:ATTR], ` +
        'e.g. app:app, src/server:create() or src/server:create("prod", 3).',
    );
  }
  const [, module, attr, argsText] = m;
  let args: unknown[] | null = null;
  if (argsText !== undefined) {
    if (!attr)
      throw new AppLoadError(
        'GSERVE_E_APP_SPEC',
        `Cannot read APP ${JSON.stringify(text)}: a call needs a name, e.g. ${module}:create().`,
      );
    try {
      const parsed: unknown = argsText.trim() ? JSON.parse(`[${argsText}]`) : [];
      args = Array.isArray(parsed) ? parsed : [];
    } catch {
      throw new AppLoadError(
        'GSERVE_E_APP_SPEC',
        `Cannot read the arguments of ${attr}(${argsText}) in APP ${JSON.stringify(text)}: ` +
          'arguments must be JSON literals, e.g. create("prod", 3, {"debug": true}).',
      );
    }
  }
  return { module: module!, attr: attr ?? null, args, text };
}
