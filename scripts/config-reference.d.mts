/** Types of scripts/config-reference.mjs, for the test that imports it. */
export declare const OUTPUT: string;
export declare const EXAMPLE: string;
export interface SchemaKey {
  path: string;
  type: string;
  optional: boolean;
  hasDefault: boolean;
  default: unknown;
  leaf: boolean;
}
export declare function schemaKeys(schema: unknown): SchemaKey[];
export declare function exampleComments(text: string, schema: unknown): Map<string, string>;
export declare function splitDefault(comment: string, key: string): { stated: string | undefined; description: string };
export declare function yamlValue(value: unknown): string;
export declare function renderConfigReference(schema: unknown, exampleText: string): { markdown: string; missing: string[] };
