import { expect, type Locator, type Page } from '@playwright/test';

/** Page object for the development identity provider's sign-in page. */
export class DevSignInPage {
  readonly consent: Locator;

  constructor(readonly page: Page) {
    this.consent = page.getByTestId('consent');
  }

  async choose(user: string): Promise<void> {
    await expect(this.consent).toBeVisible();
    await this.page.getByTestId(`dev-user-${user}`).click();
  }
}
