/**
 * Copies the live sessions of one store into another (admin `sessions copy`, e.g. from SQLite to Redis when
 * an installation grows to several instances): same ids, refresh-token hashes and limits, so the clients'
 * tokens keep working against the new store. The homeserver credential is opened with the source's key
 * and sealed with the target's. Sessions past their limits are left behind; ones already in the target are
 * left as they are there, so a second run (or one interrupted and restarted) copies only what is missing.
 * Registered OAuth clients go along the same way (an OAuth session's client must stay known to the new
 * store); authorization codes, which live minutes, do not.
 */
import type { SessionRecord, Store } from "./store.js";

export interface CopyResult {
  copied: number;
  /** Already in the target (by id). */
  present: number;
  /** Past `session_max_age`, or a refresh token idle past `refresh_ttl`. */
  expired: number;
  /** Registered OAuth clients: copied, and already in the target (by id). */
  clients: { copied: number; present: number };
}

const PAGE_SIZE = 500;

export async function copySessions(
  source: Store,
  target: Store,
  { now, idleMs, pageSize = PAGE_SIZE }: { now: number; idleMs: number; pageSize?: number },
): Promise<CopyResult> {
  const result: CopyResult = { copied: 0, present: 0, expired: 0, clients: { copied: 0, present: 0 } };
  // Redis SCAN may return a key twice (while its table is resized): each id is counted once, so that the
  // summary's numbers add up to the sessions the source holds. About 100 bytes per session, for the run.
  const seen = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await source.sessionsAfter(cursor, pageSize);
    for (const session of page.sessions) {
      if (seen.has(session.id)) continue;
      seen.add(session.id);
      if (isOver(session, now, idleMs)) result.expired++;
      else if (await target.getSession(session.id)) result.present++;
      else {
        await target.createSession(session, idleMs);
        result.copied++;
      }
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  const seenClients = new Set<string>();
  do {
    const page = await source.clientsAfter(cursor, pageSize);
    for (const client of page.clients) {
      if (seenClients.has(client.id)) continue;
      seenClients.add(client.id);
      if (await target.getClient(client.id)) result.clients.present++;
      else {
        await target.saveClient(client);
        result.clients.copied++;
      }
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  return result;
}

function isOver(session: SessionRecord, now: number, idleMs: number): boolean {
  return session.expiresAt <= now || (session.refresh !== null && session.refresh.currentIssuedAt + idleMs <= now);
}
