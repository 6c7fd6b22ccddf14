import { expect, test } from '@playwright/test';
import { ChatPage } from './pages/chat-page';
import { DevSignInPage } from './pages/sign-in-page';

/**
 * Flow 2, on-behalf-of: mcp-tools exchanges the user's token for a Microsoft Graph token (the dev stack's
 * Graph stand-in) and the structured result renders as a table. Bob has not consented to Calendars.Read
 * by default, so his journey goes through a URL elicitation and the identity provider's consent page.
 */

/** The dev identity provider (its admin endpoint restores the default consents so bob's journey repeats). */
const DEV_IDP = process.env.PORTCULLIS_DEV_IDP ?? 'http://127.0.0.1:3400';

test.describe('on-behalf-of: Microsoft Graph through mcp-tools', () => {
  test.beforeEach(async ({ request }) => {
    const reset = await request.post(`${DEV_IDP}/dev/reset-consents`, {
      headers: { 'X-Dev-Idp-Admin': 'reset-consents' },
    });
    expect(reset.ok()).toBeTruthy();
  });

  test('alice asks what is on her calendar: approve, the events table renders and the answer names her events', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.send('what is on my calendar this week');

    const card = await chat.expectLastCall('list_my_events', 'pending');
    await card.getByTestId('approve').click();
    const done = await chat.expectLastCall('list_my_events', 'done');
    // Alice consented long ago: no consent prompt, ever.
    await expect(done.getByTestId('url-elicitation')).toHaveCount(0);

    const table = done.getByTestId('tool-result-table');
    await expect(table).toBeVisible();
    await expect(table.getByRole('columnheader', { name: 'subject' })).toBeVisible();
    const rows = table.locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(0);
    // The first column is the subject; the model's answer names it.
    const subject = ((await rows.first().locator('td').first().textContent()) ?? '').trim();
    expect(subject.length).toBeGreaterThan(0);
    await expect(chat.assistantMessages.last()).toContainText(subject);
    // The text form stays available.
    await expect(done.getByTestId('tool-result-text')).toBeAttached();
    chat.app.expectNoPageErrors();
  });

  test("bob's consent journey: a URL elicitation, the consent page in a new tab, Accept, then his events", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('bob');
    await chat.newChat();
    await chat.send('what is on my calendar this week');
    const card = await chat.expectLastCall('list_my_events', 'pending');
    await card.getByTestId('approve').click();

    // The server asks for consent by URL: the full URL is shown with its host highlighted, nothing opened yet.
    const ask = card.getByTestId('url-elicitation');
    await expect(ask).toBeVisible();
    await expect(ask.getByTestId('url-elicitation-message')).toContainText('Calendars.Read');
    await expect(ask.getByTestId('url-elicitation-host')).toHaveText('127.0.0.1');
    const url = (await ask.getByTestId('url-elicitation-url').textContent()) ?? '';
    expect(url).toContain('/oauth2/v2.0/authorize?');
    expect(url).toContain('prompt=consent');
    const link = ask.getByTestId('url-elicitation-link');
    await expect(link).toHaveAttribute('target', '_blank');
    await expect(link).toHaveAttribute('rel', /noopener/);
    await expect(link).toHaveAttribute('href', url.trim());
    expect(page.context().pages()).toHaveLength(1);

    // The consent journey happens in its own tab, on the identity provider.
    const [consentTab] = await Promise.all([page.waitForEvent('popup'), link.click()]);
    await consentTab.waitForLoadState();
    await new DevSignInPage(consentTab).choose('bob');
    await expect(consentTab.getByTestId('consent-scopes')).toContainText('Calendars.Read');
    await consentTab.getByTestId('consent-accept').click();
    await expect(consentTab.getByRole('heading', { name: 'Consent recorded' })).toBeVisible();
    await consentTab.close();

    // Back in the chat: Accept retries the exchange, which now succeeds.
    await ask.getByTestId('url-elicitation-accept').click();
    const done = await chat.expectLastCall('list_my_events', 'done');
    await expect(done.getByTestId('tool-result-table')).toBeVisible();
    expect(await done.getByTestId('tool-result-table').locator('tbody tr').count()).toBeGreaterThan(0);
    await expect(done.getByTestId('elicitation-outcome')).toContainText('accept');

    // Consent is remembered: asking again needs no prompt.
    await chat.send('what is on my calendar this week');
    const again = await chat.expectLastCall('list_my_events', 'pending');
    await again.getByTestId('approve').click();
    const second = await chat.expectLastCall('list_my_events', 'done');
    await expect(second.getByTestId('url-elicitation')).toHaveCount(0);
    await expect(second.getByTestId('tool-result-table')).toBeVisible();
    chat.app.expectNoPageErrors();
  });
});
