import { expect, test } from '@playwright/test';
import { ChatPage } from './pages/chat-page';
import { ConnectionsPage } from './pages/connections-page';

/**
 * Flow 4, several MCP servers: mcp-tools and sales are separate resources, each with its own audience and
 * scope, granted separately. Sales asks each user's consent at the identity provider; until alice connects
 * it, its tools are not offered and the chat says why.
 */

const DEV_IDP = process.env.PORTCULLIS_DEV_IDP ?? 'http://127.0.0.1:3400';

test.describe('several MCP servers: Connect, Connections page, sales summary chart', () => {
  test.beforeEach(async ({ request }) => {
    // Consents back to the defaults: nobody has granted sales.
    const reset = await request.post(`${DEV_IDP}/dev/reset-consents`, {
      headers: { 'X-Dev-Idp-Admin': 'reset-consents' },
    });
    expect(reset.ok()).toBeTruthy();
  });

  test('alice connects sales, sees both grants without token text, and gets the quarterly summary as a table and a chart', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const connections = new ConnectionsPage(page);
    await connections.goto();
    await connections.ensureDisconnected('sales');

    // Not connected: the chat says so and links to Connect.
    await chat.goto('/chat');
    const notice = page.getByTestId('server-notice').and(page.locator('[data-server="sales"]'));
    await expect(notice).toContainText('sales is not connected');
    await expect(notice.getByRole('link', { name: 'Connect sales' })).toBeVisible();

    await connections.goto();
    await connections.connect('sales', 'alice');
    const sales = connections.card('sales');
    await expect(sales).toHaveAttribute('data-state', 'connected');
    await expect(sales.getByTestId('grant-audience')).toHaveText('api://portcullis-sales');
    await expect(sales.getByTestId('grant-scopes')).toHaveText('sales:read');
    await expect(sales.getByTestId('grant-expires')).toContainText('UTC');
    await expect(sales.getByTestId('reach')).toContainText('5 tools');
    const tools = connections.card('tools');
    await expect(tools).toHaveAttribute('data-state', 'connected');
    await expect(tools.getByTestId('grant-audience')).toHaveText('api://portcullis-mcp');
    await expect(tools.getByTestId('grant-scopes')).toHaveText('mcp:tools');
    // Claims as text, never a token: no JWT (base64url of '{"') anywhere in the page.
    expect(await page.content()).not.toContain('eyJ');

    // The chat no longer withholds sales; the model is offered its tools.
    await chat.goto('/chat');
    await expect(page.getByTestId('server-notices')).toBeAttached();
    await expect(page.getByTestId('server-notice')).toHaveCount(0);
    await chat.start('sales summary for 2026 by quarter');
    const card = await chat.expectLastCall('sales_summary', 'pending');
    expect(await chat.argumentsOf(card)).toEqual({ year: 2026, group_by: 'quarter' });
    await card.getByTestId('approve').click();
    const done = await chat.expectLastCall('sales_summary', 'done');
    const table = done.getByTestId('tool-result-table');
    await expect(table).toBeVisible();
    await expect(table.locator('tbody tr')).toHaveCount(4);
    const chart = done.getByTestId('result-chart');
    await expect(chart).toBeVisible();
    await expect(chart.getByTestId('chart-bar')).toHaveCount(4);
    await expect(chart).toHaveAttribute('role', 'img');

    // Disconnect: only sales goes; the chat says it is not connected again.
    await connections.goto();
    await connections.card('sales').getByRole('button', { name: 'Disconnect' }).click();
    await expect(connections.card('sales')).toHaveAttribute('data-state', 'not-connected');
    await expect(connections.card('tools')).toHaveAttribute('data-state', 'connected');
    await chat.goto('/chat');
    await expect(notice).toContainText('sales is not connected');
    chat.app.expectNoPageErrors();
  });
});
