import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One case of the malformed-request corpus: test/corpus/NAME.STATUS[-STATUS…].http, raw bytes. */
export interface CorpusCase {
  name: string;
  /** The status of each request in the bytes, in order: 200 for a sound one, then the refusal's. */
  statuses: number[];
  bytes: Buffer;
}

const CORPUS = join(import.meta.dirname, '../corpus');

/** Every case of the corpus, read once per test file. */
export const CORPUS_CASES: readonly CorpusCase[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.http'))
  .map((file) => {
    const m = /^(.+)\.(\d{3}(?:-\d{3})*)\.http$/.exec(file)!;
    return { name: m[1]!, statuses: m[2]!.split('-').map(Number), bytes: readFileSync(join(CORPUS, file)) };
  });
