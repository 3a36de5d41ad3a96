// Vitest 5 targets Node 22+; on Node 20 its reporter needs Map.groupBy (ES2024). Loaded with
// --import by scripts/test.mjs so `npm test` works on the Node 20 LTS many machines still run.
if (typeof Map.groupBy !== 'function') {
  Object.defineProperty(Map, 'groupBy', {
    configurable: true,
    writable: true,
    value(items, keyFn) {
      const map = new Map();
      let i = 0;
      for (const item of items) {
        const key = keyFn(item, i++);
        const group = map.get(key);
        if (group) group.push(item);
        else map.set(key, [item]);
      }
      return map;
    },
  });
}
if (typeof Object.groupBy !== 'function') {
  Object.defineProperty(Object, 'groupBy', {
    configurable: true,
    writable: true,
    value(items, keyFn) {
      const out = Object.create(null);
      let i = 0;
      for (const item of items) {
        const key = keyFn(item, i++);
        (out[key] ??= []).push(item);
      }
      return out;
    },
  });
}
