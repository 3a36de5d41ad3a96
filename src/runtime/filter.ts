// Passage filters for the runtime: the declarative filter and its compiler live in the store
// layer (src/stored-index/passage-filter.ts), because a stored index turns a filter into the allow-list its GPU
// scan honours. The runtime checks a request's filter once (INVALID_OPTION before any work) and
// hands the compiled filter down; retrieval passes its plain-data form to the index.

export { compileFilter, type CompiledFilter as PassagePredicate } from '../stored-index/passage-filter.js';
