/** Sessions in process memory: for tests and throwaway setups (a restart logs everybody out). */
import { decideRotation, nextRefreshState } from "../auth/rotation.js";
import type { AuthorizationCode, OAuthClient, RotationResult, SessionRecord, Store } from "./store.js";

export function createMemoryStore(): Store {
  const sessions = new Map<string, SessionRecord>();
  const byFamily = new Map<string, string>();
  const clients = new Map<string, OAuthClient>();
  const codes = new Map<string, { code: AuthorizationCode; used: boolean }>();

  const remove = (id: string): SessionRecord | undefined => {
    const session = sessions.get(id);
    if (!session) return undefined;
    sessions.delete(id);
    if (session.refresh) byFamily.delete(session.refresh.family);
    return session;
  };

  return {
    async createSession(session) {
      sessions.set(session.id, structuredClone(session));
      if (session.refresh) byFamily.set(session.refresh.family, session.id);
    },
    async getSession(id) {
      const session = sessions.get(id);
      return session && structuredClone(session);
    },
    async getRequestSession(id) {
      const session = sessions.get(id);
      return (
        session && {
          id,
          userId: session.userId,
          deviceId: session.deviceId,
          upstreamToken: session.upstreamToken,
          expiresAt: session.expiresAt,
        }
      );
    },
    async rotateRefreshToken(family, presentedHash, nextHash, policy): Promise<RotationResult> {
      const id = byFamily.get(family);
      const session = id === undefined ? undefined : sessions.get(id);
      if (!session?.refresh) return { kind: "unknown" };
      const decision = decideRotation(session.refresh, session.expiresAt, presentedHash, policy);
      if (decision === "expired") return { kind: "expired" };
      if (decision === "theft") return { kind: "theft", session: remove(session.id) as SessionRecord };
      if (decision === "sibling") return { kind: "sibling", session: structuredClone(session) };
      session.refresh = nextRefreshState(session.refresh, decision, presentedHash, nextHash, policy.now);
      return { kind: decision === "rotate" ? "rotated" : "retried", session: structuredClone(session) };
    },
    async getSessionByFamily(family) {
      const id = byFamily.get(family);
      const session = id === undefined ? undefined : sessions.get(id);
      return session && structuredClone(session);
    },
    async deleteSession(id) {
      return remove(id);
    },
    async deleteUserSessions(userId) {
      const removed: SessionRecord[] = [];
      for (const session of [...sessions.values()]) {
        if (session.userId === userId) removed.push(remove(session.id) as SessionRecord);
      }
      return removed;
    },
    async deleteExpired(now, idleMs) {
      let count = 0;
      for (const session of [...sessions.values()]) {
        const idle = session.refresh !== null && session.refresh.currentIssuedAt + idleMs <= now;
        if (session.expiresAt <= now || idle) {
          remove(session.id);
          count++;
        }
      }
      return count;
    },
    async countSessions() {
      return sessions.size;
    },
    async listUserSessions(userId) {
      return [...sessions.values()].filter((s) => s.userId === userId).map((s) => structuredClone(s));
    },
    async sessionsAfter(cursor, limit) {
      const start = Number(cursor ?? 0);
      const page = [...sessions.values()].slice(start, start + limit).map((s) => structuredClone(s));
      return { sessions: page, cursor: start + limit < sessions.size ? String(start + limit) : undefined };
    },
    async revokedSince() {
      // One process owns a memory store, and it drops its own cache entries as it revokes.
      return { sessionIds: [], cursor: "0" };
    },
    async probeWrite() {
      // Process memory always takes a write (or the process is gone).
    },
    async saveClient(client) {
      clients.set(client.id, structuredClone(client));
    },
    async getClient(id) {
      const client = clients.get(id);
      return client && structuredClone(client);
    },
    async clientsAfter(cursor, limit) {
      const start = Number(cursor ?? 0);
      const page = [...clients.values()].slice(start, start + limit).map((c) => structuredClone(c));
      return { clients: page, cursor: start + limit < clients.size ? String(start + limit) : undefined };
    },
    async saveCode(code) {
      codes.set(code.hash, { code: structuredClone(code), used: false });
    },
    async takeCode(hash, now) {
      const entry = codes.get(hash);
      if (!entry || entry.code.expiresAt <= now) return undefined;
      const firstUse = !entry.used;
      entry.used = true;
      return { code: structuredClone(entry.code), firstUse };
    },
    async takeExpiredCodes(now) {
      const unused: AuthorizationCode[] = [];
      for (const [hash, entry] of [...codes]) {
        if (entry.code.expiresAt > now) continue;
        codes.delete(hash);
        if (!entry.used) unused.push(entry.code);
      }
      return unused;
    },
    async close() {
      sessions.clear();
      byFamily.clear();
      clients.clear();
      codes.clear();
    },
  };
}
