// The lexical index in the IndexedDB store: the shared behaviour (test/support/store-behaviour.ts,
// also run against the file store in test/storage/store-file.test.ts) — postings committed in the
// same transaction as the chunks, aborts and stale commits changing neither, whole-index writes
// building them, a damaged term bucket caught, two connections agreeing.
import { openDB } from 'idb';
import { storeLexicalBehaviour } from '../support/store-behaviour.js';
import { idbBackend } from '../support/idb-backend.js';
import { storeSession } from '../support/store-fixtures.js';

const db = storeSession('weft-lexical');
const backend = idbBackend(db);
storeLexicalBehaviour({
  ...backend,
  tamper: {
    ...backend.tamper,
    async terms(index, bucket, edit) {
      const raw = await openDB(db.dbName);
      const rec = (await raw.get('terms', [index, bucket])) as { data: ArrayBuffer };
      edit(new Uint8Array(rec.data));
      await raw.put('terms', rec);
      raw.close();
    },
  },
  another: () => db.open(),
});
