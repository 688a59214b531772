/**
 * One request to a test gateway through node:http, keeping the response's raw header lines: fetch's
 * `Headers` joins repeated fields into one, which would hide a header sent twice. Request headers may
 * be given as raw `[name, value, name, value, …]` lines to send a field several times.
 */
import http from "node:http";
import type { TestGateway } from "./gateway.js";

export interface RawReply {
  status: number;
  /** The response's header lines as received: `[name, value, name, value, …]`. */
  rawHeaders: string[];
  /** The parsed JSON body, or the text when it is not JSON. */
  body: any;
}

export interface RawRequest {
  method?: string;
  /** Sent as written (node:http does not resolve `..`). */
  path: string;
  headers?: http.OutgoingHttpHeaders | string[];
  body?: string | Buffer;
}

export function rawRequest(gw: TestGateway, { method = "GET", path, headers = {}, body }: RawRequest): Promise<RawReply> {
  const { port } = new URL(gw.url);
  // node:http sends a DELETE or OPTIONS body neither chunked nor with a length unless told its length.
  const lengthGiven = Array.isArray(headers)
    ? headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === "content-length")
    : Object.keys(headers).some((name) => name.toLowerCase() === "content-length");
  let sent = body === undefined || lengthGiven ? headers : withLength(headers, Buffer.byteLength(body));
  // Raw lines are sent as they are: without a Host line Node's server refuses the request.
  if (Array.isArray(sent) && !sent.some((value, i) => i % 2 === 0 && value.toLowerCase() === "host"))
    sent = ["Host", `127.0.0.1:${port}`, ...sent];
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: parsed });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Every value of the header lines named `name` (any case), in order. */
export function headerLines(reply: { rawHeaders: string[] }, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < reply.rawHeaders.length; i += 2)
    if ((reply.rawHeaders[i] as string).toLowerCase() === name.toLowerCase()) values.push(reply.rawHeaders[i + 1] as string);
  return values;
}

function withLength(headers: http.OutgoingHttpHeaders | string[], length: number): http.OutgoingHttpHeaders | string[] {
  return Array.isArray(headers) ? [...headers, "Content-Length", String(length)] : { ...headers, "Content-Length": length };
}
