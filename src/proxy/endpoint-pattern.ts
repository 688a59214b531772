/**
 * Endpoint patterns of the config (`public_endpoints`): `"GET,POST /_matrix/client/{r0,v3}/register/**"`.
 * `*` is one path segment, `/**` at the end any rest (or none), `{a,b}` alternatives.
 */
export interface EndpointMatcher {
  matches(method: string, path: string): boolean;
}

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

function compileOne(pattern: string): { methods: Set<string>; path: RegExp } {
  const space = pattern.indexOf(" ");
  const methods = new Set(pattern.slice(0, space).split(","));
  // HEAD is GET without a body: wherever GET is public, so is HEAD.
  if (methods.has("GET")) methods.add("HEAD");
  return { methods, path: new RegExp(`^${toRegExp(pattern.slice(space + 1))}$`) };
}

function toRegExp(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (glob.startsWith("/**", i) && i + 3 === glob.length) {
      out += "(?:/.*)?";
      break;
    }
    if (c === "*") out += "[^/]+";
    else if (c === "{") {
      const end = glob.indexOf("}", i);
      out += `(?:${glob
        .slice(i + 1, end)
        .split(",")
        .map(escapeRegExp)
        .join("|")})`;
      i = end;
    } else out += escapeRegExp(c);
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
