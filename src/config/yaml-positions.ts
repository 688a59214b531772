/**
 * Where a problem stands in the YAML document: the offset of a key path (for `FILE:LINE:COL`), and the dotted
 * path of the key at an offset (for a duplicate key, which the parser reports by position only).
 */
import { type Document, isNode, isScalar, visit } from "yaml";

/** Offset of the deepest part of `keyPath` present in the document: its key where it has one. */
export function offsetOf(doc: Document, keyPath: PropertyKey[]): number {
  for (let depth = keyPath.length; depth > 0; depth--) {
    const prefix = keyPath.slice(0, depth);
    const keyOffset = keyOffsetOf(doc, prefix);
    if (keyOffset !== undefined) return keyOffset;
    const node = doc.getIn(prefix as unknown[], true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return isNode(doc.contents) && doc.contents.range ? doc.contents.range[0] : 0;
}

function keyOffsetOf(doc: Document, keyPath: PropertyKey[]): number | undefined {
  const parent = keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1) as unknown[], true);
  const last = keyPath[keyPath.length - 1];
  if (!parent || typeof parent !== "object" || !("items" in parent)) return undefined;
  for (const item of parent.items as unknown[]) {
    if (item && typeof item === "object" && "key" in item) {
      const key = (item as { key: unknown }).key;
      if (isScalar(key) && key.value === last) return key.range?.[0];
    }
  }
  return undefined;
}

/** Dotted path of the mapping key that starts at `offset` (a duplicate key names itself). */
export function keyPathAt(doc: Document, offset: number): string {
  let found = "";
  visit(doc, {
    Pair(_key, pair, ancestry) {
      if (isScalar(pair.key) && pair.key.range?.[0] === offset) {
        found = dottedPath([...ancestry, pair]);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

export function dottedPath(ancestry: readonly unknown[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ancestry.length; i++) {
    const node = ancestry[i];
    if (node && typeof node === "object" && "key" in node && isScalar((node as { key: unknown }).key)) {
      parts.push(String((node as { key: { value: unknown } }).key.value));
    } else if (node && typeof node === "object" && "items" in node && Array.isArray((node as { items: unknown[] }).items)) {
      const next = ancestry[i + 1];
      const index = (node as { items: unknown[] }).items.indexOf(next);
      if (index >= 0 && !(next && typeof next === "object" && "key" in next)) parts.push(String(index));
    }
  }
  return parts.join(".");
}
