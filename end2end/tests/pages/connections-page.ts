import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page';
import { DevSignInPage } from './sign-in-page';

/** Page object for the Connections page: one card per configured MCP server with the user's grant. */
export class ConnectionsPage {
  readonly app: AppPage;
  readonly cards: Locator;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.cards = page.getByTestId('connection');
  }

  async goto(): Promise<void> {
    await this.page.goto('/connections');
    await this.app.waitForHydration();
  }

  card(server: string): Locator {
    return this.cards.and(this.page.locator(`[data-server="${server}"]`));
  }

  /** Disconnects `server` if it is connected (an earlier test may have connected it). */
  async ensureDisconnected(server: string): Promise<void> {
    const card = this.card(server);
    await expect(card).toBeVisible();
    if ((await card.getAttribute('data-state')) === 'connected') {
      await card.getByRole('button', { name: 'Disconnect' }).click();
      await expect(card).toHaveAttribute('data-state', 'not-connected');
    }
  }

  /** Connect → the identity provider (choose `user`, accept the consent page) → back here. */
  async connect(server: string, user: string): Promise<void> {
    await this.card(server).getByRole('link', { name: `Connect ${server}` }).click();
    await new DevSignInPage(this.page).choose(user);
    const accept = this.page.getByTestId('consent-accept');
    await expect(accept).toBeVisible();
    await expect(this.page.getByTestId('consent-scopes')).toContainText('sales:read');
    await accept.click();
    await expect(this.page).toHaveURL(/\/connections$/);
    await this.app.waitForHydration();
  }
}
