/** A public entry of the package: its name, its source file and its page under docs/api/. */
export interface ApiEntry {
  entry: string;
  file: string;
  page: string;
}
/** One export of an entry: where it is declared, under which name, its doc comment and declaration. */
export interface ApiExport {
  name: string;
  declaredName: string;
  file: string;
  kind: 'function' | 'class' | 'interface' | 'type' | 'enum' | 'const';
  doc: string;
  signature: string;
}
export function entriesOf(root?: string): ApiEntry[];
export function extractApi(root?: string): (ApiEntry & { header: string; exports: ApiExport[] })[];
export function renderApi(api: ReturnType<typeof extractApi>): Map<string, string>;
export function undocumented(api: ReturnType<typeof extractApi>): string[];
