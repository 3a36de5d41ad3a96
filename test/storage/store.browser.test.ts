// The IndexedDB tier: the behaviour every store backend shares (test/support/store-behaviour.ts:
// named indexes, atomic commits, checksums, aborts), and what only IndexedDB has: other
// connections upgrading the database.
import { expect, test } from 'vitest';
import { openDB } from 'idb';
import { storeBehaviour, storeInit } from '../support/store-behaviour.js';
import { idbBackend } from '../support/idb-backend.js';
import { storeSession } from '../support/store-fixtures.js';

const db = storeSession('weft-test');
storeBehaviour(idbBackend(db));

test('a schema upgrade from another connection (another tab) is not blocked; this one closes and says so', async () => {
  const dbName = db.rename();
  let closed = 0;
  const s = await db.open({
    onClosedByOtherTab: () => {
      closed++;
    },
  });
  await s.createIndex(storeInit('idx'));
  const upgraded = await openDB(dbName, 3, {
    upgrade(d) {
      d.createObjectStore('future');
    },
  });
  expect(closed).toBe(1);
  expect([...upgraded.objectStoreNames]).toContain('future');
  // The data written before the upgrade is intact for the new connection.
  expect((await upgraded.get('manifests', 'idx')).name).toBe('idx');
  upgraded.close();
});
