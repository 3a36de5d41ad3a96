// Small, valid PDFs written by the tests: text on each page in the standard Helvetica font, with
// the cross-reference table's byte offsets computed, so pdf.js reads them as a viewer would. Also
// the ways a PDF fails: an encrypted one (an /Encrypt dictionary whose user password is not
// empty, so pdf.js asks for a password) and a damaged one.

const enc = new TextEncoder();

/** A PDF string literal: backslashes and parentheses escaped. */
const literal = (s: string) => `(${s.replace(/[\\()]/g, (c) => `\\${c}`)})`;

const hex = (bytes: number) => Array.from({ length: bytes }, (_, i) => ((i * 53 + 17) & 0xff).toString(16).padStart(2, '0')).join('');

/** A bookmark: its title, the page it points to (from 1), and the bookmarks under it. */
export interface PdfBookmark {
  title: string;
  page: number;
  children?: PdfBookmark[];
}

export interface PdfOptions {
  /** Adds an RC4 /Encrypt dictionary (standard security handler, a user password that is not empty). */
  encrypted?: boolean;
  /** The document outline (bookmarks). */
  outline?: PdfBookmark[];
  /** The text's size in points (default 12): a tiny one keeps a very long line on the page, where pdf.js still reads it. */
  fontSize?: number;
  /** The distance between lines in points (default 14); 0 writes every line of a page over the first, so any number of them stays on the page. */
  leading?: number;
}

/** A PDF with one page per entry of `pages`, each page's lines written top to bottom. */
export function makePdf(pages: readonly (readonly string[])[], options: PdfOptions = {}): Uint8Array<ArrayBuffer> {
  const objects: string[] = []; // objects[i] is object number i + 1
  const add = (body: string) => objects.push(body);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // the page tree, written once the pages' numbers are known
  add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  const kids: number[] = [];
  for (const lines of pages) {
    const content = `BT /F1 ${options.fontSize ?? 12} Tf ${options.leading ?? 14} TL 72 720 Td ${lines.map((l) => `${literal(l)} Tj T*`).join(' ')} ET`;
    add(`<< /Length ${enc.encode(content).length} >>\nstream\n${content}\nendstream`);
    const contents = objects.length;
    add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${contents} 0 R >>`);
    kids.push(objects.length);
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  if (options.outline?.length) {
    // Each level's items are consecutive objects, linked as siblings; /Dest points at the page object.
    const level = (items: readonly PdfBookmark[], parent: number): { first: number; last: number; count: number } => {
      const numbers = items.map(() => {
        add('');
        return objects.length;
      });
      let count = items.length;
      items.forEach((item, i) => {
        const kids = item.children?.length ? level(item.children, numbers[i]!) : undefined;
        if (kids) count += kids.count;
        objects[numbers[i]! - 1] =
          `<< /Title ${literal(item.title)} /Parent ${parent} 0 R /Dest [${kidsOf(item.page)} 0 R /Fit]` +
          `${i > 0 ? ` /Prev ${numbers[i - 1]} 0 R` : ''}${i < items.length - 1 ? ` /Next ${numbers[i + 1]} 0 R` : ''}` +
          `${kids ? ` /First ${kids.first} 0 R /Last ${kids.last} 0 R /Count ${kids.count}` : ''} >>`;
      });
      return { first: numbers[0]!, last: numbers.at(-1)!, count };
    };
    const kidsOf = (page: number) => kids[page - 1]!;
    add('');
    const root = objects.length;
    const top = level(options.outline, root);
    objects[root - 1] = `<< /Type /Outlines /First ${top.first} 0 R /Last ${top.last} 0 R /Count ${top.count} >>`;
    objects[0] = `<< /Type /Catalog /Pages 2 0 R /Outlines ${root} 0 R >>`;
  }
  let encrypt = '';
  if (options.encrypted) {
    add(`<< /Filter /Standard /V 1 /R 2 /Length 40 /O <${hex(32)}> /U <${hex(32).split('').reverse().join('')}> /P -44 >>`);
    encrypt = ` /Encrypt ${objects.length} 0 R`;
  }
  let out = '%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n';
  const offsets: number[] = [];
  const bytesSoFar = () => out.length; // one byte per character (latin1 below)
  objects.forEach((body, i) => {
    offsets.push(bytesSoFar());
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = bytesSoFar();
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${encrypt} /ID [<${hex(16)}> <${hex(16)}>] >>\nstartxref\n${xref}\n%%EOF\n`;
  return latin1(out);
}

/** A file that starts like a PDF and is not one. */
export function makeBrokenPdf(): Uint8Array<ArrayBuffer> {
  return latin1('%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R\nthis is not a PDF any more \u0000\u0001\u0002 xref garbage\n%%EOF\n');
}

/** One byte per character (the PDF's own bytes are Latin-1 here). */
function latin1(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i) & 0xff;
  return bytes;
}
