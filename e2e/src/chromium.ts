import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium (or CHROMIUM_PATH), driven by playwright-core, which downloads nothing.
 * CI installs it (.ci/run) or names the runner's Chrome; only outside CI is a missing browser
 * a reason to skip.
 */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialling out, and this network refuses it.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why a browser test is skipped here, or undefined when it runs (under CI=true a missing browser fails instead). */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM) || process.env['CI'] === 'true') return undefined;
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
