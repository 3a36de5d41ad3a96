// The one table of the document types Weft reads: each type's file extensions and MIME types.
// readDocument decides a file's type from it; <weft-chat>'s file picker, the demo and the Deno
// shell accept and skip files by it, so a type added here is readable everywhere at once.

/** What a document is read as. */
export type DocumentType = 'text' | 'markdown' | 'html' | 'pdf';

/** A kind of document Weft reads: its DocumentType, a label for messages, file name extensions and MIME types. */
export interface ReadableType {
  type: DocumentType;
  /** How people call it, for messages: "Markdown". */
  label: string;
  /** File name extensions, lower case, without the dot; the first is the usual one. */
  extensions: readonly string[];
  /** MIME types (without parameters); the first is the usual one. */
  mimeTypes: readonly string[];
}

/** The readable document types. */
export const readableTypes: readonly ReadableType[] = [
  { type: 'text', label: 'plain text', extensions: ['txt', 'text'], mimeTypes: ['text/plain'] },
  { type: 'markdown', label: 'Markdown', extensions: ['md', 'markdown', 'mdown', 'mkd'], mimeTypes: ['text/markdown', 'text/x-markdown'] },
  { type: 'html', label: 'HTML', extensions: ['html', 'htm', 'xhtml'], mimeTypes: ['text/html', 'application/xhtml+xml'] },
  { type: 'pdf', label: 'PDF', extensions: ['pdf'], mimeTypes: ['application/pdf'] },
];

export const documentTypes: readonly DocumentType[] = readableTypes.map((t) => t.type);

const byExtension = new Map(readableTypes.flatMap((t) => t.extensions.map((e) => [e, t.type] as const)));
const byMime = new Map(readableTypes.flatMap((t) => t.mimeTypes.map((m) => [m, t.type] as const)));

/** The document type of a file name's extension ("notes/a.MD" → markdown), or undefined. */
export function documentTypeOfName(name: string): DocumentType | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? byExtension.get(base.slice(dot + 1).toLowerCase()) : undefined;
}

/** The document type of a MIME type ("text/html; charset=utf-8" → html), or undefined. */
export function documentTypeOfMime(mime: string): DocumentType | undefined {
  return byMime.get(mime.split(';')[0]!.trim().toLowerCase());
}

/**
 * The type of a file: by its MIME type when that is one of ours and says more than "text/plain"
 * (systems often report .md files as text/plain, or with no type), else by its name's extension;
 * undefined when neither is readable.
 */
export function documentTypeOf(file: { name?: string; type?: string }): DocumentType | undefined {
  const byMime = file.type ? documentTypeOfMime(file.type) : undefined;
  const byName = file.name ? documentTypeOfName(file.name) : undefined;
  return byMime === undefined || byMime === 'text' ? (byName ?? byMime) : byMime;
}

/** The MIME type a readable file of this name should carry ("a.pdf" → application/pdf), or undefined. */
export function mimeTypeOfName(name: string): string | undefined {
  const type = documentTypeOfName(name);
  return type && readableTypes.find((t) => t.type === type)!.mimeTypes[0];
}

/** For `<input type="file" accept=…>`: every extension and MIME type above. */
export const acceptAttribute: string = [...readableTypes.flatMap((t) => t.extensions.map((e) => `.${e}`)), ...readableTypes.flatMap((t) => t.mimeTypes)].join(
  ',',
);

/** For messages: "plain text (.txt), Markdown (.md), HTML (.html) or PDF (.pdf)". */
export const readableTypesText: string = (() => {
  const names = readableTypes.map((t) => `${t.label} (.${t.extensions[0]})`);
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
})();
