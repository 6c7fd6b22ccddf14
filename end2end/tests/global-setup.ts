import type { FullConfig } from '@playwright/test';

/** Waits for the web server's health check, for up to three minutes (a cold server build can be slow). */
export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL = config.projects[0].use.baseURL ?? 'http://127.0.0.1:3000';
  const deadline = Date.now() + 180_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(new URL('/healthz', baseURL));
      if (response.ok) return;
      lastError = new Error(`health check answered ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`server at ${baseURL} did not become healthy: ${String(lastError)}`);
}
