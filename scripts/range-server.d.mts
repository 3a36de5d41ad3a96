import type { Plugin } from 'vite';
import type { IncomingMessage, ServerResponse } from 'node:http';
export interface RangeHost {
  files: Map<string, { bytes: Uint8Array; etag: string }>;
  handle(req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void>;
}
export function createRangeHost(): RangeHost;
export function rangeHostPlugin(): Plugin;
