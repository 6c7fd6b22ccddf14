import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Page object for the Portcullis frame shared by every page. It records uncaught browser errors so a
 * test can assert there were none.
 */
export class AppPage {
  readonly errors: Error[] = [];
  readonly frame: Locator;
  readonly authStatus: Locator;
  readonly heading: Locator;
  readonly userName: Locator;
  readonly signInLink: Locator;
  readonly signOutButton: Locator;

  constructor(readonly page: Page) {
    page.on('pageerror', (error) => this.errors.push(error));
    // A blocked script or style only shows up as a console error.
    page.on('console', (message) => {
      if (message.type() === 'error' && message.text().includes('Content Security Policy')) {
        this.errors.push(new Error(message.text()));
      }
    });
    this.frame = page.getByTestId('app');
    this.authStatus = page.getByTestId('auth-status');
    this.heading = page.getByRole('heading', { level: 1 });
    this.userName = page.getByTestId('user-name');
    this.signInLink = page.getByTestId('sign-in');
    this.signOutButton = page.getByTestId('sign-out');
  }

  async goto(path = '/'): Promise<void> {
    await this.page.goto(path);
  }

  /** Resolves once the WASM bundle has hydrated the server-rendered page. */
  async waitForHydration(): Promise<void> {
    await expect(this.frame).toHaveAttribute('data-hydrated', 'true');
  }

  expectNoPageErrors(): void {
    expect(this.errors, this.errors.map((e) => e.stack ?? e.message).join('\n')).toEqual([]);
  }
}
