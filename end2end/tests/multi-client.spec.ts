import { expect, test as base } from '@playwright/test';
import { argsHash, AuditPage } from './pages/audit-page';
import { ChatPage } from './pages/chat-page';
import { ConsoleClient, ensureConsoleBinary, resultText, signInConsoleInBrowser, signInUrlIn } from './support/console';

/**
 * Issue #17, "multi-client": alice in the web app and in `portcullis-console` at the same time, both
 * against the dev stack's mcp-tools. The notes are mcp-tools' and shared; each client signs in on its
 * own and keeps its own approvals (the console's `--yes` calls are not in the web's conversations or
 * audit trail, and do not touch a call the web has pending).
 */

/** A marker no earlier run has used (the dev stack's data folder persists between runs). */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** A console with a fresh folder per test; its processes are killed and its folder deleted after. */
const test = base.extend<{ consoleClient: ConsoleClient }>({
  // eslint-disable-next-line no-empty-pattern
  consoleClient: async ({}, use) => {
    const client = await ConsoleClient.start();
    await use(client);
    await client.dispose();
  },
});

test.describe('multi-client', () => {
  test.beforeAll(async () => {
    // Building the console (only when no earlier step did) may take minutes on a cold target dir.
    test.setTimeout(15 * 60_000);
    await ensureConsoleBinary();
  });

  test('web and console as the same user: a note added in one is listed in the other; sessions and approvals stay apart', async ({
    page,
    context,
    consoleClient,
  }) => {
    test.setTimeout(180_000);
    const webNote = unique('web-note');
    const consoleNote = unique('console-note');

    // The web app: alice adds a note through the chat, approving the call.
    const chat = new ChatPage(page);
    await chat.signIn('alice');
    const chatUrl = await chat.newChat();
    const conversationId = chatUrl.split('/').pop()!;
    await chat.send(`add a note "${webNote}"`);
    const proposed = await chat.expectLastCall('add_note', 'pending');
    expect(await chat.argumentsOf(proposed)).toEqual({ text: webNote });
    await proposed.getByTestId('approve').click();
    const added = await chat.expectLastCall('add_note', 'done');
    expect(await chat.resultOf(added)).toMatch(new RegExp(`^Saved note \\d+: ${webNote}$`));

    // The web asks to list the notes; that call waits for alice's approval while the console works.
    await chat.send('list my notes');
    await chat.expectLastCall('list_notes', 'pending');

    // The console, signed out in its own folder: the browser session of the web app gives it nothing,
    // so its first call prints a sign-in URL; alice completes it in another tab of the same browser.
    const list = consoleClient.run(['--json', 'call', 'tools', 'list_notes', '--yes']);
    const signInUrl = await list.signInUrl();
    expect(signInUrl.searchParams.get('code_challenge_method'), list.describe()).toBe('S256');
    expect(signInUrl.searchParams.get('redirect_uri'), list.describe()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    await signInConsoleInBrowser(context, signInUrl, 'alice');
    const consoleListed = resultText(await list.json());
    expect(list.stderr, list.describe()).toContain('as Alice Smith');
    expect(consoleListed, list.describe()).toContain(webNote);

    // A second console run reuses its cached tokens (no sign-in URL) and adds a note.
    const add = consoleClient.run(['call', 'tools', 'add_note', `text=${consoleNote}`, '--yes', '--json']);
    const addResult = await add.expectExit(0);
    expect(signInUrlIn(addResult.stderr), add.describe()).toBeUndefined();
    expect(resultText(await add.json()), add.describe()).toMatch(new RegExp(`^Saved note \\d+: ${consoleNote}$`));

    // The web session is untouched by the console's sign-in, and its audit trail holds only its own
    // calls: the web's add_note (found by its arguments' hash, newest) and not the console's two calls,
    // which would be newer still.
    const audit = new AuditPage(page);
    await audit.goto();
    await expect(audit.app.userName).toHaveText('Alice Smith');
    const webAddHash = argsHash({ text: webNote });
    await expect(audit.rowsWithArgsHash(webAddHash)).toHaveCount(1);
    await expect(audit.rows.first().getByTitle(webAddHash, { exact: true })).toBeVisible();
    await expect(audit.rowsOf(conversationId)).toHaveCount(1);
    await expect(audit.rowsWithArgsHash(argsHash({ text: consoleNote }))).toHaveCount(0);

    // The console's `--yes` approved its own call only: the web's list_notes is still pending, and
    // approving it now lists the console's note too.
    await chat.goto(chatUrl);
    const pendingList = await chat.expectLastCall('list_notes', 'pending');
    await expect(chat.toolCalls).toHaveCount(2);
    await pendingList.getByTestId('approve').click();
    const webListed = await chat.resultOf(await chat.expectLastCall('list_notes', 'done'));
    expect(webListed).toContain(consoleNote);
    expect(webListed).toContain(webNote);
    await expect(chat.toolCalls).toHaveCount(2);

    // The web's approval is recorded as the web's; the console's calls still are not.
    await audit.goto();
    await expect(audit.rowsOf(conversationId)).toHaveCount(2);
    const newest = audit.rows.first();
    await expect(newest).toHaveAttribute('data-tool', 'list_notes');
    await expect(newest).toHaveAttribute('data-outcome', 'done');
    await expect(audit.rowsOf(conversationId).first()).toHaveAttribute('data-tool', 'list_notes');
    await expect(audit.rowsWithArgsHash(argsHash({ text: consoleNote }))).toHaveCount(0);

    // And the console, with its own session, sees the same notes without signing in again.
    const again = consoleClient.run(['--json', 'call', 'tools', 'list_notes', '--yes']);
    const againListed = resultText(await again.json());
    expect(signInUrlIn(again.stderr), again.describe()).toBeUndefined();
    expect(againListed, again.describe()).toContain(webNote);
    expect(againListed, again.describe()).toContain(consoleNote);
    chat.app.expectNoPageErrors();
    audit.app.expectNoPageErrors();
  });
});
