/**
 * Endpoint patterns of the config (`public_endpoints`, rate-limit route classes):
 * `"GET,POST /_matrix/client/{r0,v3}/register/**"`. `*` is one path segment (or the rest of one), `/**` at
 * the end any rest (or none), `{a,b}` alternatives (which may hold `/`, e.g. `{api/v1,r0}`), everything else
 * literal. A malformed pattern is refused with a message (the config reports it at its line and column);
 * compiling is one pass over the text, so no pattern can make start-up hang.
 */
export interface EndpointMatcher {
  matches(method: string, path: string): boolean;
}

const METHODS = /^[A-Z]+(,[A-Z]+)*$/;

export class PatternError extends Error {}

export function compileEndpoints(patterns: string[]): EndpointMatcher {
  const compiled = patterns.map(compileOne);
  return {
    matches(method, path) {
      for (const endpoint of compiled) {
        if (endpoint.methods.has(method) && endpoint.path.test(path)) return true;
      }
      return false;
    },
  };
}

/** What is wrong with `pattern`, or `undefined` when it compiles. */
export function patternProblem(pattern: string): string | undefined {
  try {
    compileOne(pattern);
    return undefined;
  } catch (error) {
    if (error instanceof PatternError) return error.message;
    throw error;
  }
}

function compileOne(pattern: string): { methods: Set<string>; path: RegExp } {
  const space = pattern.indexOf(" ");
  const methodList = space === -1 ? "" : pattern.slice(0, space);
  const glob = space === -1 ? "" : pattern.slice(space + 1);
  if (!METHODS.test(methodList) || !glob.startsWith("/")) throw new PatternError('must be "METHOD[,METHOD] /path/pattern"');
  const methods = new Set(methodList.split(","));
  // HEAD is GET without a body: wherever GET is public, so is HEAD.
  if (methods.has("GET")) methods.add("HEAD");
  return { methods, path: new RegExp(`^${toRegExp(glob, space + 1)}$`) };
}

/** `offset`: where the glob starts in the whole pattern, so that messages count characters as the operator sees them. */
function toRegExp(glob: string, offset: number): string {
  let out = "";
  let alternatives: string[] | undefined; // inside `{…}`: the alternatives read so far
  let current = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (/\s/.test(c)) throw new PatternError("a path pattern has no spaces");
    if (alternatives) {
      if (c === "{") throw new PatternError(`"{" inside "{…}" at character ${offset + i + 1}: alternatives do not nest`);
      if (c === "*") throw new PatternError(`"*" inside "{…}" at character ${offset + i + 1}: alternatives are literal`);
      if (c === "," || c === "}") {
        if (current === "") throw new PatternError(`empty alternative in "{…}" at character ${offset + i + 1}`);
        alternatives.push(escapeRegExp(current));
        current = "";
        if (c === "}") {
          out += `(?:${alternatives.join("|")})`;
          alternatives = undefined;
        }
        continue;
      }
      current += c;
      continue;
    }
    if (c === "{") {
      alternatives = [];
      continue;
    }
    if (c === "}") throw new PatternError(`"}" without "{" at character ${offset + i + 1}`);
    if (c === "*") {
      if (glob[i + 1] !== "*") {
        out += "[^/]+";
        continue;
      }
      if (i + 2 !== glob.length || glob[i - 1] !== "/") throw new PatternError('"**" is only allowed as a last segment, "/**"');
      // `…/**`: drop the "/" already written, then any rest or none.
      out = `${out.slice(0, -2)}(?:/.*)?`;
      break;
    }
    out += escapeRegExp(c);
  }
  if (alternatives) throw new PatternError('"{" without a closing "}"');
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
