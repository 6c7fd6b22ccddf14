import { expect, test } from '@playwright/test';
import { AuditPage } from './pages/audit-page';
import { ChatPage } from './pages/chat-page';

/** A marker no earlier run has used (the dev stack's data folder persists between runs). */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

test.describe('agent chat', () => {
  test('manual: the pending call shows its exact arguments; approving runs it and the answer states the result', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const id = (await chat.newChat()).split('/').pop()!;
    await expect(chat.item(id).getByTestId('conversation-link')).toHaveText('New chat');
    await expect(chat.mode).toHaveValue('manual');
    await chat.send('give me a random number between -10 and 10');
    // The first message names the conversation, in the list too (no reload).
    await expect(chat.item(id).getByTestId('conversation-link')).toHaveText('give me a random number between -10 and 10');

    const card = await chat.expectLastCall('get_random_number', 'pending');
    expect(await chat.argumentsOf(card)).toEqual({ min: -10, max: 10 });
    await expect(chat.sendButton).toBeDisabled();
    await card.getByTestId('approve').click();

    const done = await chat.expectLastCall('get_random_number', 'done');
    const number = await chat.resultOf(done);
    expect(Number(number)).toBeGreaterThanOrEqual(-10);
    expect(Number(number)).toBeLessThanOrEqual(10);
    await expect(chat.assistantMessages.last()).toHaveText(`tools__get_random_number returned: ${number}`);
    await expect(chat.toolCalls).toHaveCount(1);
    // Rename starts from the title shown now, not the one the page was loaded with.
    const item = chat.item(id);
    await item.getByTestId('rename').click();
    await expect(item.getByRole('textbox', { name: 'Title' })).toHaveValue('give me a random number between -10 and 10');
    await item.getByTestId('rename-cancel').click();
    chat.app.expectNoPageErrors();
  });

  test('decline: the call never reaches mcp-tools and the answer says it was declined', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    const marker = unique('declined');
    await chat.send(`add a note "${marker}"`);
    const card = await chat.expectLastCall('add_note', 'pending');
    await card.getByTestId('decline').click();
    await chat.expectLastCall('add_note', 'declined');
    await expect(chat.assistantMessages.last()).toContainText('declined by the user');

    // mcp-tools never saw it: the note does not exist.
    await chat.send('list my notes');
    const list = await chat.expectLastCall('list_notes', 'pending');
    await list.getByTestId('approve').click();
    const listed = await chat.expectLastCall('list_notes', 'done');
    expect(await chat.resultOf(listed)).not.toContain(marker);

    // The audit trail records the decision.
    await chat.goto('/audit');
    await expect(page.getByTestId('audit-row').filter({ hasText: 'add_note' }).first()).toHaveAttribute('data-outcome', 'declined');
    chat.app.expectNoPageErrors();
  });

  test('elicitation: deleting a note asks through a form; Decline keeps it, Accept deletes it', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.chooseMode('elicitation');
    await expect(chat.elicitationBanner).toBeVisible();
    const marker = unique('note');
    await chat.send(`add a note "${marker}"`);
    const added = await chat.expectLastCall('add_note', 'done');
    const saved = await chat.resultOf(added);
    const id = /^Saved note (\d+):/.exec(saved)?.[1];
    expect(id, saved).toBeTruthy();

    // Decline keeps the note.
    await chat.send(`delete note ${id}`);
    let form = chat.lastCall().getByTestId('elicitation-form');
    await expect(form.getByTestId('elicitation-message')).toContainText(marker);
    await form.getByTestId('elicitation-decline').click();
    let result = await chat.expectLastCall('delete_note', 'done');
    await expect(result.getByTestId('tool-result')).toContainText('declined');

    // Accept deletes it.
    await expect(chat.sendButton).toBeEnabled();
    await chat.send(`delete note ${id}`);
    form = chat.lastCall().getByTestId('elicitation-form');
    await expect(form).toBeVisible();
    await form.getByRole('checkbox').check();
    await form.getByTestId('elicitation-accept').click();
    result = await chat.expectLastCall('delete_note', 'done');
    await expect(result.getByTestId('tool-result')).toHaveText(`Deleted note ${id}.`);

    await chat.send('list my notes');
    const listed = await chat.expectLastCall('list_notes', 'done');
    expect(await chat.resultOf(listed)).not.toContain(marker);
    chat.app.expectNoPageErrors();
  });

  test('the answer is Markdown rendered as HTML (a list), and raw HTML in it stays inert text', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.chooseMode('auto');
    const marker = unique('bold');
    const raw = `<b>${marker}</b>`;
    await chat.send(`add a note "${raw}"`);
    await chat.expectLastCall('add_note', 'done');
    await expect(chat.sendButton).toBeEnabled();
    await chat.send(`add a note "${unique('plain')}"`);
    await chat.expectLastCall('add_note', 'done');
    await expect(chat.sendButton).toBeEnabled();

    // Two notes or more: the development model answers with a bulleted list under the tool's name.
    await chat.send('list my notes');
    await chat.expectLastCall('list_notes', 'done');
    const answer = chat.assistantMessages.last();
    // Namespaced: the dev stack runs two servers.
    await expect(answer.locator('code').first()).toHaveText('tools__list_notes');
    const items = answer.locator('ul > li');
    expect(await items.count()).toBeGreaterThanOrEqual(2);
    // The note's HTML shows literally: no <b> element, and no raw HTML anywhere in the message.
    await expect(items.filter({ hasText: raw })).toHaveCount(1);
    await expect(answer.locator('b, script, img')).toHaveCount(0);
    chat.app.expectNoPageErrors();
  });

  test('arguments are pretty JSON, a long result is folded until opened, and each block copies its exact text', async ({ page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await chat.chooseMode('auto');

    // Short arguments: pretty-printed (two-space indent, keys in the order the model sent them), open.
    await chat.send('give me a random number between -3 and 3');
    const random = await chat.expectLastCall('get_random_number', 'done');
    const args = '{\n  "min": -3,\n  "max": 3\n}';
    expect(await chat.argumentsText(random)).toBe(args);
    await expect(random.getByTestId('tool-args')).toBeVisible();
    await expect(chat.fold(random, 'arguments')).toHaveCount(0);
    await expect(chat.fold(random, 'result')).toHaveCount(0);
    const copyArgs = chat.copyButton(random, 'arguments');
    await copyArgs.click();
    await expect(copyArgs).toHaveText('Copied');
    expect(await chat.clipboardText()).toBe(args);
    // The label goes back after a moment.
    await expect(copyArgs).toHaveText('Copy');

    // Two notes, one long: the list of notes has several lines and is long, so its result is folded
    // and the summary gives its size.
    await chat.send(`add a note "${unique('short')}"`);
    await chat.expectLastCall('add_note', 'done');
    const marker = unique('long');
    await chat.send(`add a note "${marker} ${'lorem ipsum '.repeat(70).trim()}"`);
    await chat.expectLastCall('add_note', 'done');
    await chat.send('list my notes');
    const listed = await chat.expectLastCall('list_notes', 'done');
    const fold = chat.fold(listed, 'result');
    await expect(fold).toBeVisible();
    await expect(fold.getByTestId('fold-summary')).toContainText(/\d+ lines?, \d+ characters/);
    const result = listed.getByTestId('tool-result');
    await expect(result).toBeHidden();
    await fold.getByTestId('fold-summary').click();
    await expect(result).toBeVisible();
    await expect(result).toContainText(marker);

    // The copy is the exact text shown, line breaks included.
    const shown = await chat.resultText(listed);
    expect(shown.split('\n').length).toBeGreaterThan(1);
    const copyResult = chat.copyButton(listed, 'result');
    await copyResult.click();
    await expect(copyResult).toHaveText('Copied');
    expect(await chat.clipboardText()).toBe(shown);
    chat.app.expectNoPageErrors();
  });

  test('a pending approval is still pending after a reload, and approving still works', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const url = await chat.newChat();
    await chat.send('give me a random number between 1 and 6');
    await chat.expectLastCall('get_random_number', 'pending');

    await page.reload();
    await chat.app.waitForHydration();
    expect(page.url()).toBe(url);
    const card = await chat.expectLastCall('get_random_number', 'pending');
    expect(await chat.argumentsOf(card)).toEqual({ min: 1, max: 6 });
    await card.getByTestId('approve').click();
    const done = await chat.expectLastCall('get_random_number', 'done');
    const number = await chat.resultOf(done);
    await expect(chat.assistantMessages.last()).toHaveText(`tools__get_random_number returned: ${number}`);
    chat.app.expectNoPageErrors();
  });

  test("bob can neither see nor act on alice's conversation", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const url = await chat.newChat();
    const conversationId = url.split('/').pop()!;
    await chat.send('give me a random number between 7 and 9');
    await chat.expectLastCall('get_random_number', 'pending');
    await chat.signOut();

    await chat.signIn('bob');
    await expect(chat.app.userName).toHaveText('Bob Jones');
    await expect(page.locator(`a[href="/chat/${conversationId}"]`)).toHaveCount(0);
    await chat.goto(url);
    await expect(chat.notFound).toBeVisible();
    await expect(page.getByText('random number between 7 and 9')).toHaveCount(0);
    // Acting directly on the API gets the same 404 as an unknown conversation.
    const statuses = await page.evaluate(async (id) => {
      const post = (endpoint: string, body: unknown) =>
        fetch(`/api/${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
      return [
        await post('chat/get', { id }),
        await post('chat/send', { id, text: 'hi' }),
        await post('chat/decide', { id, call_id: 'x', args_hash: 'x', decision: 'Approve' }),
        (await fetch(`/api/chat/${id}/events`)).status,
      ];
    }, conversationId);
    expect(statuses).toEqual([404, 404, 404, 404]);
    await chat.signOut();

    // Alice's call is untouched.
    await chat.signIn('alice');
    await chat.goto(url);
    await chat.expectLastCall('get_random_number', 'pending');
    chat.app.expectNoPageErrors();
  });

  test('at /chat the first message starts the conversation: Enter sends, Shift+Enter adds a line, the box keeps focus', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await expect(chat.composer).toBeVisible();
    await expect(chat.input).toBeFocused();

    // Shift+Enter is a new line, and sends nothing.
    await chat.input.fill('first line');
    await chat.input.press('Shift+Enter');
    await chat.input.pressSequentially('second line');
    await expect(chat.input).toHaveValue('first line\nsecond line');
    await expect(page).toHaveURL(/\/chat$/);

    const message = 'give me a random number between 2 and 5';
    const id = await chat.start(message);
    const item = chat.item(id);
    await expect(item.getByTestId('conversation-link')).toHaveText(message);
    await expect(chat.title).toHaveText(message);
    // Newest first, with how long ago.
    await expect(chat.conversationItems.first()).toHaveAttribute('data-id', id);
    const time = item.getByTestId('conversation-time');
    await expect(time).toHaveText('just now');
    await expect(time).toHaveAttribute('datetime', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // The turn went on: the call waits for approval, and the box has the focus again.
    const card = await chat.expectLastCall('get_random_number', 'pending');
    expect(await chat.argumentsOf(card)).toEqual({ min: 2, max: 5 });
    await expect(chat.input).toBeFocused();
    await card.getByTestId('approve').click();
    await chat.expectLastCall('get_random_number', 'done');

    // In a conversation too: Enter sends, and the box keeps the focus.
    await expect(chat.sendButton).toBeEnabled();
    await chat.input.click();
    await chat.input.fill('list my notes');
    await chat.input.press('Enter');
    await expect(chat.input).toHaveValue('');
    await chat.expectLastCall('list_notes', 'pending');
    await expect(chat.input).toBeFocused();
    chat.app.expectNoPageErrors();
  });

  test('deleting another conversation leaves the open one as it is, with what is typed in it', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const other = (await chat.newChat()).split('/').pop()!;
    const open = (await chat.newChat()).split('/').pop()!;
    await chat.input.fill('a draft');
    await chat.delete(other);
    await expect(page).toHaveURL(new RegExp(`/chat/${open}$`));
    await expect(chat.input).toHaveValue('a draft');
    await expect(chat.item(open)).toHaveCount(1);
    chat.app.expectNoPageErrors();
  });

  test('an empty first message creates nothing', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const before = await chat.conversationItems.count();
    await chat.input.fill('   ');
    await chat.input.press('Enter');
    await expect(page).toHaveURL(/\/chat$/);
    await page.reload();
    await chat.app.waitForHydration();
    await expect(chat.conversationItems).toHaveCount(before);
    chat.app.expectNoPageErrors();
  });

  test('a conversation is renamed and deleted from the list; its calls stay in the audit trail', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const id = await chat.start('give me a random number between 3 and 4');
    const card = await chat.expectLastCall('get_random_number', 'pending');
    await card.getByTestId('approve').click();
    await chat.expectLastCall('get_random_number', 'done');

    const title = unique('dice');
    await chat.rename(id, title);
    await expect(chat.title).toHaveText(title);
    await page.reload();
    await chat.app.waitForHydration();
    await expect(chat.item(id).getByTestId('conversation-link')).toHaveText(title);
    await expect(chat.title).toHaveText(title);

    // An empty title is refused, and the old one stays.
    const item = chat.item(id);
    await item.getByTestId('rename').click();
    await item.getByRole('textbox', { name: 'Title' }).fill('  ');
    await item.getByTestId('rename-save').click();
    await expect(item.getByTestId('conversation-error')).toBeVisible();
    await item.getByTestId('rename-cancel').click();
    await expect(item.getByTestId('conversation-link')).toHaveText(title);

    // Deleting the open conversation goes back to the composer.
    await chat.delete(id);
    await expect(page).toHaveURL(/\/chat$/);
    await expect(chat.composer).toBeVisible();
    // Gone from the list before the page is loaded again (the list refreshes after the delete).
    await expect(chat.item(id)).toHaveCount(0);
    await page.reload();
    await chat.app.waitForHydration();
    await expect(chat.item(id)).toHaveCount(0);
    await chat.goto(`/chat/${id}`);
    await expect(chat.notFound).toBeVisible();

    const audit = new AuditPage(page);
    await audit.goto();
    await expect(audit.rowsOf(id)).toHaveCount(1);
    await expect(audit.rowsOf(id).first()).toContainText('get_random_number');
    chat.app.expectNoPageErrors();
  });
});
