import { expect, test } from '@playwright/test';
import { ChatPage } from './pages/chat-page';

/** A marker no earlier run has used (the dev stack's data folder persists between runs). */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

test.describe('agent chat', () => {
  test('manual: the pending call shows its exact arguments; approving runs it and the answer states the result', async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    await chat.newChat();
    await expect(chat.mode).toHaveValue('manual');
    await chat.send('give me a random number between -10 and 10');

    const card = await chat.expectLastCall('get_random_number', 'pending');
    expect(await chat.argumentsOf(card)).toEqual({ min: -10, max: 10 });
    await expect(chat.sendButton).toBeDisabled();
    await card.getByTestId('approve').click();

    const done = await chat.expectLastCall('get_random_number', 'done');
    const number = await chat.resultOf(done);
    expect(Number(number)).toBeGreaterThanOrEqual(-10);
    expect(Number(number)).toBeLessThanOrEqual(10);
    await expect(chat.assistantMessages.last()).toHaveText(`get_random_number returned: ${number}`);
    await expect(chat.toolCalls).toHaveCount(1);
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
    await expect(chat.assistantMessages.last()).toHaveText(`get_random_number returned: ${number}`);
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
});
