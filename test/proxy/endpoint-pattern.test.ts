/**
 * The endpoint-pattern compiler (`public_endpoints`, rate-limit route classes): any text either compiles
 * or is refused with a message, in one pass — an unclosed `{` once made start-up loop forever — and what
 * compiles matches what the pattern says.
 */
import fc from "fast-check";
import t from "tap";
import { compileEndpoints, PatternError, patternProblem } from "../../src/proxy/endpoint-pattern.js";

t.test("property: any text compiles or is refused with a PatternError, quickly", async (t) => {
  const piece = fc.constantFrom("GET", "POST", ",", " ", "/", "{", "}", "*", "**", "/**", "a", "v3", ".", "\\", "$", "(", "[", "");
  const pathPiece = fc.constantFrom("/", "{", "}", ",", "*", "/**", "**", "a", "v3", "{r0,v3}", "{a", ".", "\\", "$", "(");
  let compiled = 0;
  let refused = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.array(piece, { maxLength: 12 }).map((parts) => parts.join("")),
        fc.string({ maxLength: 30 }),
        // Shaped like a pattern: a method list, one space, a path of pieces (well- or ill-formed).
        fc
          .tuple(fc.constantFrom("GET", "GET,POST", "PUT", "get", "GET,"), fc.array(pathPiece, { maxLength: 8 }))
          .map(([methods, parts]) => `${methods} /${parts.join("")}`),
      ),
      (text) => {
        const started = performance.now();
        try {
          const matcher = compileEndpoints([text]);
          matcher.matches("GET", "/a/v3/x");
          compiled++;
        } catch (error) {
          if (!(error instanceof PatternError)) throw new Error(`${JSON.stringify(text)}: ${String(error)}`);
          if (patternProblem(text) !== error.message) throw new Error("patternProblem disagrees with the compiler");
          refused++;
        }
        if (performance.now() - started > 250) throw new Error(`${JSON.stringify(text)} took too long to compile`);
      },
    ),
    { numRuns: 5000 },
  );
  t.ok(compiled > 100 && refused > 100, `${compiled} compiled, ${refused} refused (both sides exercised)`);
});

t.test("property: a compiled pattern matches its own spellings and nothing across a segment", async (t) => {
  const literal = fc.stringMatching(/^[a-z0-9._~-]{1,6}$/);
  const segment = fc.oneof(
    literal.map((text) => ({ pattern: text, example: text, other: `${text}x` })),
    fc.constant({ pattern: "*", example: "anything", other: "" }),
    fc.array(literal, { minLength: 1, maxLength: 3 }).map((alternatives) => ({
      pattern: `{${alternatives.join(",")}}`,
      example: alternatives[0] as string,
      other: `${alternatives.join("")}-none`,
    })),
  );
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.boolean(), (segments, rest) => {
      const pattern = `GET /${segments.map((s) => s.pattern).join("/")}${rest ? "/**" : ""}`;
      const example = `/${segments.map((s) => s.example).join("/")}`;
      const matcher = compileEndpoints([pattern]);
      if (!matcher.matches("GET", example)) throw new Error(`${pattern} does not match ${example}`);
      if (!matcher.matches("HEAD", example)) throw new Error("HEAD goes with GET");
      if (matcher.matches("POST", example)) throw new Error("another method");
      if (rest !== matcher.matches("GET", `${example}/more/segments`)) throw new Error(`${pattern}: the rest`);
      // Changing one segment to something the pattern does not allow there breaks the match.
      segments.forEach((s, i) => {
        if (s.pattern === "*") return;
        const changed = `/${segments.map((x, j) => (j === i ? s.other : x.example)).join("/")}`;
        if (changed !== example && matcher.matches("GET", changed)) {
          if (!s.pattern.startsWith("{") || !s.pattern.slice(1, -1).split(",").includes(s.other))
            throw new Error(`${pattern} matches ${changed}`);
        }
      });
      if (matcher.matches("GET", `${example}/`) && !rest) throw new Error(`${pattern} matches a trailing slash`);
    }),
    { numRuns: 3000 },
  );
  t.pass("3000 generated patterns matched their spellings only");
});
