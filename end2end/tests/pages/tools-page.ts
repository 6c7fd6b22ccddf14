import { type Locator, type Page } from '@playwright/test';

/** Page object for the Tools page: one card per configured MCP server. */
export class ToolsPage {
  readonly servers: Locator;
  readonly toolNames: Locator;
  readonly signedOut: Locator;
  /** Each tool's folded "Input schema" (its `<summary>`). */
  readonly schemaToggles: Locator;

  constructor(readonly page: Page) {
    this.servers = page.getByTestId('mcp-server');
    this.toolNames = page.getByTestId('tool-name');
    this.signedOut = page.getByTestId('tools-signed-out');
    this.schemaToggles = page.getByTestId('tool').getByText('Input schema', { exact: true });
  }

  async goto(): Promise<void> {
    await this.page.goto('/tools');
  }
}
