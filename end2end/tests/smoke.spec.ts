import { expect, test } from '@playwright/test';
import { AppPage } from './pages/app-page';

test.describe('smoke', () => {
  test('home page hydrates and shows the product and sign-in state', async ({ page }) => {
    const app = new AppPage(page);
    await app.goto('/');

    // Server-rendered content first…
    await expect(app.heading).toHaveText('Portcullis');
    await expect(page).toHaveTitle('Portcullis');
    // …then the WASM takes over.
    await app.waitForHydration();
    await expect(app.authStatus).toHaveText('Not signed in');
    app.expectNoPageErrors();
  });

  test('unknown paths show a not-found page with status 404', async ({ page }) => {
    const app = new AppPage(page);
    const response = await page.goto('/no/such/page');
    expect(response?.status()).toBe(404);
    await expect(app.heading).toHaveText('Page not found');
    await app.waitForHydration();
    app.expectNoPageErrors();
  });
});
