import { createHash } from 'node:crypto';
import { type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page';

/**
 * The SHA-256 the audit trail shows for a call's arguments: of the arguments' JSON text as the model
 * wrote it (the dev model writes compact JSON, keys in order, as `JSON.stringify` does).
 */
export function argsHash(args: unknown): string {
  return createHash('sha256').update(JSON.stringify(args)).digest('hex');
}

/** Page object for the Audit page: the signed-in user's own tool calls, newest first. */
export class AuditPage {
  readonly app: AppPage;
  readonly rows: Locator;
  readonly table: Locator;
  readonly empty: Locator;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.rows = page.getByTestId('audit-row');
    this.table = page.getByTestId('audit-table');
    this.empty = page.getByTestId('audit-empty');
  }

  async goto(): Promise<void> {
    await this.page.goto('/audit');
    await this.app.waitForHydration();
  }

  /** The rows of one conversation (each row links to its conversation). */
  rowsOf(conversationId: string): Locator {
    return this.rows.filter({ has: this.page.locator(`a[href="/chat/${conversationId}"]`) });
  }

  /** The rows whose arguments hash to `hash` (the full hash is the short hash's title). */
  rowsWithArgsHash(hash: string): Locator {
    return this.rows.filter({ has: this.page.getByTitle(hash, { exact: true }) });
  }
}
