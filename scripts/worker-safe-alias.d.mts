/** Vite `resolve.alias` entries that give every bundle decode-named-character-reference's DOM-free build. */
export function workerSafeAlias(root: string): { find: RegExp; replacement: string }[];
