/**
 * Client metadata of a dynamic registration (RFC 7591 §2), as the Matrix spec restricts it: `client_uri`
 * required and https; `logo_uri`, `policy_uri` and `tos_uri` https on its host or a subdomain; only public
 * clients (`token_endpoint_auth_method: none`), the code grant with refresh tokens, and `response_types`
 * `code`. Metadata the gateway does not understand is ignored (RFC 7591 §2) and not echoed back.
 */
import { z } from "zod";
import { OAuthError } from "./errors.js";
import { onHost, redirectUriProblem } from "./redirect-uri-rules.js";

const SUPPORTED_GRANTS = ["authorization_code", "refresh_token"] as const;

const metadataSchema = z.object({
  redirect_uris: z.array(z.string()).min(1, { message: "list at least one redirect URI" }),
  client_uri: z.string(),
  application_type: z.enum(["web", "native"]).default("web"),
  token_endpoint_auth_method: z.literal("none", { message: 'only "none" is supported (public clients)' }).default("none"),
  grant_types: z.array(z.enum(SUPPORTED_GRANTS)).default(["authorization_code"]),
  response_types: z.array(z.literal("code")).default(["code"]),
  client_name: z.string().optional(),
  logo_uri: z.string().optional(),
  policy_uri: z.string().optional(),
  tos_uri: z.string().optional(),
  contacts: z.array(z.string()).optional(),
});

export type ClientMetadata = z.output<typeof metadataSchema>;

const invalid = (description: string) => new OAuthError(400, "invalid_client_metadata", description);

/** The registered form of `body`; throws 400 `invalid_redirect_uri` or `invalid_client_metadata`. */
export function validateClientMetadata(body: unknown): ClientMetadata {
  const parsed = metadataSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid client metadata");
  }
  const metadata = parsed.data;
  const clientHost = httpsHost(metadata.client_uri);
  if (clientHost === undefined) throw invalid("client_uri: must be an https URL");
  for (const field of ["logo_uri", "policy_uri", "tos_uri"] as const) {
    const uri = metadata[field];
    if (uri === undefined) continue;
    const host = httpsHost(uri);
    if (host === undefined || !onHost(host, clientHost))
      throw invalid(`${field}: must be an https URL on ${clientHost} or a subdomain of it`);
  }
  for (const uri of metadata.redirect_uris) {
    const problem = redirectUriProblem(uri, metadata.application_type, clientHost);
    if (problem) throw new OAuthError(400, "invalid_redirect_uri", `${uri}: ${problem}`);
  }
  return metadata;
}

function httpsHost(uri: string): string | undefined {
  try {
    const url = new URL(uri);
    return url.protocol === "https:" && !url.username && !url.password && !uri.includes("#") ? url.hostname : undefined;
  } catch {
    return undefined;
  }
}
