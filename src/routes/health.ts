/** `GET /health`: answered by the gateway itself once it listens. */
import { sendJson } from "../http/respond.js";
import type { Handler } from "./context.js";

export const health: Handler = (_req, res) => sendJson(res, 200, { status: "ok" });
