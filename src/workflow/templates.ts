// Prompt and query templates: text with `{slot}` references to the request's state. Only a name
// in braces is a reference (letters, digits, '_' and '-', starting with a letter); any other
// brace is text, so JSON or code in a prompt needs no escaping.

const REFERENCE = /\{([A-Za-z][\w-]*)\}/g;

/** The slot names a template refers to, each once, in order of first use. */
export function slotsIn(template: string): string[] {
  return [...new Set(Array.from(template.matchAll(REFERENCE), (m) => m[1]!))];
}

/** The template with each reference replaced by `text(name)`. */
export function renderTemplate(template: string, text: (slot: string) => string): string {
  return template.replace(REFERENCE, (_, name: string) => text(name));
}
