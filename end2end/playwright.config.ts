import { defineConfig } from '@playwright/test';

/**
 * Browser tests run against the server that `cargo leptos end-to-end` starts (127.0.0.1:3000 unless
 * PORTCULLIS_BASE_URL says otherwise). The global setup waits until it answers, since cargo-leptos
 * starts the tests without waiting for readiness.
 *
 * Chromium comes from Debian (/usr/bin/chromium); Playwright's own browser download is never used.
 */
const baseURL = process.env.PORTCULLIS_BASE_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  testDir: './tests',
  testMatch: '**/*.spec.ts',
  globalSetup: './tests/global-setup.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
