import { expect, test } from '@playwright/test';
import { AppPage } from './pages/app-page';
import { DevSignInPage } from './pages/sign-in-page';
import { ToolsPage } from './pages/tools-page';

test.describe('sign-in', () => {
  test('alice signs in, sees the tools, signs out; the old cookie is dead; bob sees his own name', async ({ page, context }) => {
    const app = new AppPage(page);
    await app.goto('/');
    await app.waitForHydration();
    await expect(app.authStatus).toHaveText('Not signed in');

    // Sign in as alice on the dev identity provider, starting from the Tools page.
    const tools = new ToolsPage(page);
    await tools.goto();
    await app.waitForHydration();
    await expect(tools.signedOut).toBeVisible();
    await app.signInLink.click();
    await new DevSignInPage(page).choose('alice');

    // Back on the page she asked for, with her name in the header.
    await expect(page).toHaveURL(/\/tools$/);
    await app.waitForHydration();
    await expect(app.userName).toHaveText('Alice Smith');
    // The dev stack's two MCP servers: mcp-tools, then sales.
    await expect(tools.servers).toHaveCount(2);
    await expect(tools.servers.nth(1).getByTestId('server-name')).toHaveText('sales');
    // The server's own title, with the short name the console and the model address it by beside it.
    await expect(tools.servers.first().getByRole('heading', { level: 2 })).toContainText('Portcullis tools');
    await expect(tools.servers.first().getByTestId('server-name')).toHaveText('tools');
    for (const tool of ['get_random_number', 'get_current_date', 'get_weather', 'add_note', 'list_notes', 'delete_note']) {
      await expect(tools.toolNames.filter({ hasText: new RegExp(`^${tool}$`) })).toHaveCount(1);
    }

    // No token or cookie value reachable from page script or storage.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'portcullis_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Lax');
    const visible = await page.evaluate(() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
    expect(visible).not.toContain(session!.value);
    expect(await page.content()).not.toContain('eyJ');

    // Sign out: back at the app, signed out.
    await app.signOutButton.click();
    await expect(page).toHaveURL('http://127.0.0.1:3000/');
    await app.waitForHydration();
    await expect(app.authStatus).toHaveText('Not signed in');

    // Replaying the old session cookie gets nothing.
    await context.addCookies([{ ...session!, expires: -1 }]);
    await app.goto('/');
    await expect(app.authStatus).toHaveText('Not signed in');

    // Bob signs in and sees his own name.
    await app.signInLink.click();
    await new DevSignInPage(page).choose('bob');
    await app.waitForHydration();
    await expect(app.userName).toHaveText('Bob Jones');
    app.expectNoPageErrors();
  });
});
