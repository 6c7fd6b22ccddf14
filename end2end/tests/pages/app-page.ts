import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Page object for the Portcullis frame shared by every page. It records uncaught browser errors so a
 * test can assert there were none.
 */
export class AppPage {
  readonly errors: Error[] = [];
  /** Everything the browser logged (console and uncaught errors), for failure messages. */
  readonly log: string[] = [];
  readonly frame: Locator;
  readonly authStatus: Locator;
  readonly heading: Locator;
  readonly userName: Locator;
  readonly signInLink: Locator;
  readonly signOutButton: Locator;
  /** The frame's polite live region (what waits for the user in the chat). */
  readonly announcer: Locator;

  constructor(readonly page: Page) {
    page.on('pageerror', (error) => {
      this.errors.push(error);
      this.log.push(`[pageerror] ${error.stack ?? error.message}`);
    });
    // A blocked script or style only shows up as a console error.
    page.on('console', (message) => {
      this.log.push(`[${message.type()}] ${message.text()}`);
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
    this.announcer = page.getByTestId('announcer');
  }

  async goto(path = '/'): Promise<void> {
    await this.page.goto(path);
  }

  /** Resolves once the WASM bundle has hydrated the server-rendered page. */
  async waitForHydration(): Promise<void> {
    try {
      await expect(this.frame).toHaveAttribute('data-hydrated', 'true');
    } catch (error) {
      // A page that never hydrates says why in the browser console (a panic, a hydration mismatch).
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- browser console ---\n${this.log.join('\n')}`);
    }
  }

  /**
   * Presses Tab (Shift+Tab when `backwards`) until `target` has the keyboard focus, as someone without
   * a mouse would; fails after `max` presses, or when a press leaves the focus where it was (a trap).
   * Returns how many presses it took.
   */
  async tabTo(target: Locator, { backwards = false, max = 20 } = {}): Promise<number> {
    const key = backwards ? 'Shift+Tab' : 'Tab';
    for (let presses = 1; presses <= max; presses++) {
      const before = await this.page.evaluateHandle(() => document.activeElement);
      await this.page.keyboard.press(key);
      if (await target.evaluate((element) => element === document.activeElement)) {
        await before.dispose();
        return presses;
      }
      const stuck = await before.evaluate((element) => element === document.activeElement && element !== document.body);
      await before.dispose();
      expect(stuck, `the focus stayed put after ${key} (a keyboard trap)`).toBe(false);
    }
    throw new Error(`${key} did not reach ${target} within ${max} presses`);
  }

  expectNoPageErrors(): void {
    expect(this.errors, this.errors.map((e) => e.stack ?? e.message).join('\n')).toEqual([]);
  }
}
