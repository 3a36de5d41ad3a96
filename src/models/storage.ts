// The site's storage, as the models and indexes use it: how much is used and available
// (navigator.storage.estimate), and asking the browser to keep it under storage pressure
// (persist), so that downloaded models and built indexes are not evicted.

import { WeftError } from '../errors.js';

/** What this site uses of its storage quota, and whether its storage is persistent. */
export interface StorageEstimateReport {
  /** Bytes this site uses (Cache API, IndexedDB, OPFS …), as the browser estimates them. */
  usage: number;
  /** Bytes the browser lets this site use. */
  quota: number;
  /** quota - usage, at least 0. */
  available: number;
  /** Whether the site's storage is persistent (not evicted under storage pressure). */
  persisted: boolean;
}

function storageManager(): StorageManager {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage) {
    throw new WeftError('STORAGE_ERROR', 'navigator.storage is not available here: use a secure (https or localhost) page in a current browser.');
  }
  return storage;
}

/**
 * What this site uses of its quota (models and indexes together), as the browser estimates it, and
 * whether its storage is persistent.
 */
export async function storageEstimate(): Promise<StorageEstimateReport> {
  const storage = storageManager();
  const [estimate, persisted] = await Promise.all([storage.estimate(), storage.persisted()]);
  const usage = estimate.usage ?? 0,
    quota = estimate.quota ?? 0;
  return { usage, quota, available: Math.max(0, quota - usage), persisted };
}

/**
 * Asks the browser to keep this site's storage (models and indexes) under storage pressure.
 * Resolves true if it is persistent now; the browser may say no (Chrome decides from how the site
 * is used; Firefox asks the user). Call it from the page: workers cannot ask.
 */
export async function persistStorage(): Promise<boolean> {
  const storage = storageManager();
  if (typeof storage.persist !== 'function') {
    throw new WeftError('STORAGE_ERROR', 'Persistent storage can only be requested from a page, not from a worker: call persistStorage() on the main thread.');
  }
  return storage.persist();
}
