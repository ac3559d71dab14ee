// What the doc's closing note says about a missed target that more than one scenario judges.

/** Why the fetch path may trail: said in the doc wherever a fetch target is missed. */
export const FETCH_PATH_NOTE =
  "Look first at the `fetch` adapter's per-request work: a WHATWG Request built although the app reads only its URL, " +
  'and a Response read as a stream, so that even a fixed string body goes out `Transfer-Encoding: chunked` in ' +
  "several writes (`curl -v` shows it). The design's fast path closes it: a lazy Request, and string/bytes bodies " +
  'written whole, with Content-Length, in one write.';
