import { expect, test, type Page } from '@playwright/test';
import { AppPage } from './pages/app-page';
import { AuditPage } from './pages/audit-page';
import { ChatPage } from './pages/chat-page';
import { ConnectionsPage } from './pages/connections-page';
import { ToolsPage } from './pages/tools-page';
import { expectNoSeriousViolations } from './support/axe';

/** A marker no earlier run has used (the dev stack's data folder persists between runs). */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Relative luminance (WCAG) of a computed `rgb(…)` colour. */
function luminance(rgb: string): number {
  const channels = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(rgb);
  expect(channels, rgb).not.toBeNull();
  const [r, g, b] = channels!.slice(1, 4).map((c) => {
    const v = Number(c) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The page's background and text colours as computed now. */
async function pageColours(page: Page): Promise<{ background: string; text: string }> {
  return page.evaluate(() => {
    const style = getComputedStyle(document.documentElement);
    return { background: style.backgroundColor, text: style.color };
  });
}

/** In elicitation mode, saves a note and returns its id (the tool runs without asking). */
async function addNote(chat: ChatPage, text: string): Promise<string> {
  await chat.send(`add a note "${text}"`);
  const added = await chat.expectLastCall('add_note', 'done');
  const saved = await chat.resultOf(added);
  const id = /^Saved note (\d+):/.exec(saved)?.[1];
  expect(id, saved).toBeTruthy();
  await expect(chat.sendButton).toBeEnabled();
  return id!;
}

test.describe('accessibility', () => {
  test('signed out: home, chat, tools and audit have no serious or critical axe violations, light and dark', async ({ page }) => {
    const app = new AppPage(page);
    for (const path of ['/', '/chat', '/tools', '/audit']) {
      await app.goto(path);
      await app.waitForHydration();
      await expect(app.authStatus).toHaveText('Not signed in');
      await expectNoSeriousViolations(page, `${path} signed out`);
    }
    app.expectNoPageErrors();
  });

  test('the axe check itself fails on a serious violation: a low-contrast line added to the page', async ({ page }) => {
    const app = new AppPage(page);
    await app.goto('/');
    await app.waitForHydration();
    await page.evaluate(() => {
      const line = document.createElement('p');
      line.textContent = 'grey on grey';
      line.style.color = '#999999';
      line.style.background = '#aaaaaa';
      document.querySelector('main')?.append(line);
    });
    await expect(expectNoSeriousViolations(page, 'home with a low-contrast line', ['light'])).rejects.toThrow(/color-contrast \(serious\)/);
  });

  test('colours follow prefers-color-scheme: a light page in the light scheme, a dark one in the dark', async ({ page }) => {
    const app = new AppPage(page);
    await page.emulateMedia({ colorScheme: 'light' });
    await app.goto('/');
    await app.waitForHydration();
    const light = await pageColours(page);
    expect(luminance(light.background), light.background).toBeGreaterThan(0.8);
    expect(luminance(light.text), light.text).toBeLessThan(0.1);

    // The same page, switched live: the custom properties follow the media query.
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await pageColours(page);
    expect(luminance(dark.background), dark.background).toBeLessThan(0.05);
    expect(luminance(dark.text), dark.text).toBeGreaterThan(0.7);
    // Form controls and scrollbars follow too.
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe('light dark');
    app.expectNoPageErrors();
  });

  test('signed in: home, tools (schemas open) and audit have no serious or critical axe violations, light and dark', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    // One call of her own, so the audit trail has a row whatever ran before.
    await chat.chooseMode('auto');
    await chat.start('give me a random number between 1 and 2');
    await chat.expectLastCall('get_random_number', 'done');

    await chat.app.goto('/');
    await chat.app.waitForHydration();
    await expect(chat.app.userName).toHaveText('Alice Smith');
    await expectNoSeriousViolations(page, 'home signed in');

    const tools = new ToolsPage(page);
    await tools.goto();
    await chat.app.waitForHydration();
    // mcp-tools and sales (sales: its tools, or why they are not listed).
    await expect(tools.servers).toHaveCount(2);
    const toggles = await tools.schemaToggles.all();
    expect(toggles.length).toBeGreaterThan(0);
    for (const toggle of toggles) await toggle.click();
    await expectNoSeriousViolations(page, 'tools');

    const connections = new ConnectionsPage(page);
    await connections.goto();
    await expect(connections.cards).toHaveCount(2);
    await expectNoSeriousViolations(page, 'connections');

    const audit = new AuditPage(page);
    await audit.goto();
    await expect(audit.table).toBeVisible();
    await expectNoSeriousViolations(page, 'audit');
    chat.app.expectNoPageErrors();
  });

  test('chat with a finished call and a pending approval has no serious or critical axe violations, light and dark', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.send('give me a random number between 1 and 6');
    const first = await chat.expectLastCall('get_random_number', 'pending');
    await first.getByTestId('approve').click();
    await chat.expectLastCall('get_random_number', 'done');
    await expect(chat.sendButton).toBeEnabled();

    await chat.send(`add a note "${unique('a11y')}"`);
    await chat.expectLastCall('add_note', 'pending');
    await expectNoSeriousViolations(page, 'chat with a pending approval');
    chat.app.expectNoPageErrors();
  });

  test('chat with an elicitation form has no serious or critical axe violations, light and dark', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.chooseMode('elicitation');
    const marker = unique('a11y-form');
    const id = await addNote(chat, marker);
    await chat.send(`delete note ${id}`);
    const form = chat.lastCall().getByTestId('elicitation-form');
    await expect(form.getByTestId('elicitation-message')).toContainText(marker);
    // The form is named by its question, and its checkbox by its label.
    await expect(chat.lastCall().getByRole('form')).toHaveAccessibleName(/Delete note/);
    await expect(form.getByRole('checkbox')).toHaveAccessibleName(/\S/);
    await expectNoSeriousViolations(page, 'chat with an elicitation form');
    chat.app.expectNoPageErrors();
  });

  test('keyboard alone: Tab reaches Approve and Enter runs the call; Space on Decline declines; the focus comes back to the message box', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await expect(chat.input).toBeFocused();
    await page.keyboard.type(`add a note "${unique('keyboard')}"`);
    await page.keyboard.press('Enter');
    const card = await chat.expectLastCall('add_note', 'pending');

    // From the message box, back to the card's buttons: Decline, then Approve.
    const approve = card.getByRole('button', { name: 'Approve' });
    await chat.app.tabTo(approve, { backwards: true });
    await expect(approve).toBeFocused();
    // A visible focus ring.
    await expect(approve).toHaveCSS('outline-style', 'solid');
    await page.keyboard.press('Enter');
    await chat.expectLastCall('add_note', 'done');
    await expect(chat.sendButton).toBeEnabled();
    // The focused button left with the card's pending part: the focus is back where typing goes.
    await expect(chat.input).toBeFocused();

    await page.keyboard.type('give me a random number between 1 and 3');
    await page.keyboard.press('Enter');
    const next = await chat.expectLastCall('get_random_number', 'pending');
    const decline = next.getByRole('button', { name: 'Decline' });
    await chat.app.tabTo(decline, { backwards: true });
    await page.keyboard.press('Space');
    await chat.expectLastCall('get_random_number', 'declined');
    await expect(chat.sendButton).toBeEnabled();
    await expect(chat.input).toBeFocused();
    chat.app.expectNoPageErrors();
  });

  test('keyboard alone: an elicitation form is filled and accepted (Tab, Space, Enter)', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.chooseMode('elicitation');
    const id = await addNote(chat, unique('keyboard-form'));

    await expect(chat.input).toBeFocused();
    await page.keyboard.type(`delete note ${id}`);
    await page.keyboard.press('Enter');
    const form = chat.lastCall().getByTestId('elicitation-form');
    const confirm = form.getByRole('checkbox');
    // The schema's default: checked.
    await expect(confirm).toBeChecked();
    await chat.app.tabTo(confirm, { backwards: true });
    await expect(confirm).toHaveCSS('outline-style', 'solid');
    // Space toggles it, both ways.
    await page.keyboard.press('Space');
    await expect(confirm).not.toBeChecked();
    await page.keyboard.press('Space');
    await expect(confirm).toBeChecked();
    // Forwards from the checkbox: Accept comes first.
    const accept = form.getByTestId('elicitation-accept');
    expect(await chat.app.tabTo(accept)).toBe(1);
    await page.keyboard.press('Enter');
    const result = await chat.expectLastCall('delete_note', 'done');
    await expect(result.getByTestId('tool-result')).toHaveText(`Deleted note ${id}.`);
    await expect(chat.input).toBeFocused();
    chat.app.expectNoPageErrors();
  });

  test('the live region announces a pending approval and a form when they arrive, naming the tool', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    const announcer = chat.app.announcer;
    await expect(announcer).toHaveAttribute('aria-live', 'polite');
    await expect(announcer).toHaveAttribute('role', 'status');
    await expect(announcer).toHaveText('');
    // Every text the region takes on from now, as a screen reader hears its changes.
    await announcer.evaluate((region) => {
      const heard: string[] = [];
      (window as unknown as { heard: string[] }).heard = heard;
      new MutationObserver(() => heard.push(region.textContent ?? '')).observe(region, { childList: true, subtree: true, characterData: true });
    });
    const heard = () => page.evaluate(() => (window as unknown as { heard: string[] }).heard);

    await chat.send(`add a note "${unique('live')}"`);
    const card = await chat.expectLastCall('add_note', 'pending');
    await expect(announcer).toHaveText('Approval needed: add_note on tools.');
    expect(await heard()).toContain('Approval needed: add_note on tools.');
    await card.getByTestId('approve').click();
    await chat.expectLastCall('add_note', 'done');
    await expect(announcer).toHaveText('');

    // A form waiting for an answer is announced too, with its question.
    await chat.chooseMode('elicitation');
    const marker = unique('live-form');
    const id = await addNote(chat, marker);
    await chat.send(`delete note ${id}`);
    await expect(chat.lastCall().getByTestId('elicitation-form')).toBeVisible();
    await expect(announcer).toContainText('Form needs your answer: delete_note on tools asks:');
    await expect(announcer).toContainText(marker);
    await chat.lastCall().getByTestId('elicitation-decline').click();
    await chat.expectLastCall('delete_note', 'done');
    await expect(announcer).toHaveText('');
    chat.app.expectNoPageErrors();
  });
});
