// The one check both chunking test files make of a document's chunks: their bodies (headings
// stripped), whitespace aside, tile the sections' text in order — overlap may repeat text, never
// skip it.
import { expect } from 'vitest';

export const stripSpace = (s: string) => s.replace(/\s+/g, '');

/** A tiling check over `sectionTexts`: `next(body, index)` per chunk in order, then `done()`. */
export function chunkTiling(sectionTexts: readonly string[]) {
  const whole = sectionTexts.map(stripSpace).join('');
  let covered = 0,
    lastStart = -1;
  return {
    next(body: string, index: number) {
      const at = whole.indexOf(stripSpace(body), lastStart + 1);
      expect(at, `chunk ${index} is not the next stretch of text`).toBeGreaterThan(lastStart);
      expect(at, `text before chunk ${index} is in no chunk`).toBeLessThanOrEqual(covered);
      lastStart = at;
      covered = Math.max(covered, at + stripSpace(body).length);
    },
    done() {
      expect(covered).toBe(whole.length);
    },
  };
}
