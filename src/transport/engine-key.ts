// What identifies an engine: the options it opens with. Tabs of one app that open the runtime
// with the same options (the same models, database, index and settings) share one engine — the
// client names the SharedWorker after this key, and the engine checks it again when a connection
// opens — while different options get engines of their own. The key is a SHA-256 of the options
// serialized with their keys sorted, binary parts (model bytes) by their own digest, so it is
// the same in every tab and never holds the options themselves (a worker's name is visible in
// the browser's task manager).

/** A stable text for `value`: objects with sorted keys, ArrayBuffers and typed arrays by their SHA-256. */
async function canonical(value: unknown): Promise<string> {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return `{"sha256":"${await digest(bytes)}"}`;
  }
  if (Array.isArray(value)) return `[${(await Promise.all(value.map(canonical))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const parts = await Promise.all(entries.map(async ([k, v]) => `${JSON.stringify(k)}:${await canonical(v)}`));
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

async function digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The engine key of a runtime's options: 32 hex digits, equal for equal options in any tab. */
export async function engineKey(options: unknown): Promise<string> {
  return (await digest(new TextEncoder().encode(await canonical(options)))).slice(0, 32);
}
