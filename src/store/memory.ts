/** Sessions in process memory: for tests and throwaway setups (a restart logs everybody out). */
import { decideRotation, nextRefreshState } from "../auth/rotation.js";
import type { RotationResult, SessionRecord, Store } from "./store.js";

export function createMemoryStore(): Store {
  const sessions = new Map<string, SessionRecord>();
  const byFamily = new Map<string, string>();

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
    async close() {
      sessions.clear();
      byFamily.clear();
    },
  };
}
