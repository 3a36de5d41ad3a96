// Collects a document's lines under its heading path, as the Markdown and HTML readers walk their
// syntax trees: a heading ends the section before it and sets its level of the path (deeper
// levels are forgotten), lines accumulate as the section's text.

import type { Section } from './chunk.js';

export class SectionWriter {
  readonly sections: Section[] = [];
  private path: string[] = [];
  private lines: string[] = [];

  /** A heading of `level` (1 outermost): the section so far ends, and the path becomes the path to it. */
  heading(level: number, text: string): void {
    this.flush();
    this.path.length = level;
    this.path[level - 1] = text.replace(/\s+/g, ' ').trim();
  }

  /** A line of the current section (its indentation is kept; trailing spaces are not). */
  line(text: string): void {
    this.lines.push(text.trimEnd());
  }

  /** Ends the current section (nothing is added if it holds no text). */
  flush(): void {
    let from = 0,
      to = this.lines.length;
    while (from < to && !this.lines[from]!.trim()) from++;
    while (to > from && !this.lines[to - 1]!.trim()) to--;
    const text = this.lines
      .slice(from, to)
      .join('\n')
      .replace(/\n{3,}/g, '\n\n');
    if (text) this.sections.push({ headings: this.path.filter(Boolean), text });
    this.lines = [];
  }

  /** Every section, the last one ended. */
  finish(): Section[] {
    this.flush();
    return this.sections;
  }
}
