/**
 * Debian's headless Chromium (/usr/bin/chromium) driven by playwright-core: never a downloaded
 * browser. Each launch gets a fresh temporary profile (playwright's default for `launch`), so no
 * cookie or session of another test leaks in.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import type { Test } from "tap";

export const CHROMIUM = "/usr/bin/chromium";
/** Flags that work in a root container without a display (as root: no sandbox; no background networking, which this closed network refuses). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Bounds a hang, not the speed of Chromium on a loaded 2-core machine. */
export const BROWSER_WAIT_MS = 60_000;

export const hasChromium = (): boolean => existsSync(CHROMIUM);

export const NO_CHROMIUM = `${CHROMIUM} not found: install Debian's chromium (apt-get install --no-install-recommends chromium) to run the browser tests`;

export async function launchChromium(t: Test): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: BROWSER_WAIT_MS });
  t.teardown(() => browser.close());
  return browser;
}
