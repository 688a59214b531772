/**
 * Notices when the file a store has open is deleted, or replaced by another file, while the process
 * runs (an operator's `rm`, a restore copied over it, a volume remounted). The open descriptor still
 * points at the old inode, so SQLite would go on writing sessions into a file nobody will ever read again:
 * comparing the path's device and inode with the opened file's tells, within one interval.
 */
import fs from "node:fs";

/** Defaults to 2s: a lost file is noticed within seconds; a stat every 2 s costs nothing. */
export const DEFAULT_FILE_CHECK_INTERVAL_MS = 2_000;

export interface FileIdentityWatch {
  /** Why the file is lost, once it is; `undefined` while the path still names the opened file. */
  readonly lost: string | undefined;
  stop(): void;
}

/**
 * Watches `file`, which must exist and be the one just opened. `onLost` is called once, with the reason;
 * the watch then stops (a lost file does not come back: the process must open the path again).
 */
export function watchFileIdentity(
  file: string,
  onLost: (reason: string) => void,
  intervalMs = DEFAULT_FILE_CHECK_INTERVAL_MS,
): FileIdentityWatch {
  const opened = fs.statSync(file);
  let lost: string | undefined;
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    fs.stat(file, (error, now) => {
      checking = false;
      if (lost !== undefined) return;
      if (error) {
        // Only a missing path (the file or a folder above it) is a loss; any other error cannot tell.
        if (error.code !== "ENOENT" && error.code !== "ENOTDIR") return;
        lost = `${file} was deleted while the gateway had it open`;
      } else if (now.dev !== opened.dev || now.ino !== opened.ino) {
        lost = `${file} was replaced by another file while the gateway had it open`;
      } else {
        return;
      }
      clearInterval(timer);
      onLost(lost);
    });
  }, intervalMs);
  // A watch never keeps the process alive (the admin commands open the store briefly).
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    stop: () => clearInterval(timer),
  };
}
