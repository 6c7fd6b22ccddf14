import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page';
import { DevSignInPage } from './sign-in-page';

/** Page object for the Chat page: conversation list, transcript, tool-call cards, forms, message box. */
export class ChatPage {
  readonly app: AppPage;
  readonly newChatButton: Locator;
  readonly conversation: Locator;
  readonly conversationLinks: Locator;
  readonly conversationItems: Locator;
  readonly composer: Locator;
  readonly title: Locator;
  readonly notFound: Locator;
  readonly mode: Locator;
  readonly autoBanner: Locator;
  readonly elicitationBanner: Locator;
  readonly input: Locator;
  readonly sendButton: Locator;
  readonly toolCalls: Locator;
  readonly assistantMessages: Locator;
  readonly error: Locator;
  /** How many tool-call cards there were when the last message was sent: the reply's call comes after. */
  private callsBefore?: number;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.newChatButton = page.getByTestId('new-chat');
    this.conversation = page.getByTestId('conversation');
    this.conversationLinks = page.getByTestId('conversation-link');
    this.conversationItems = page.getByTestId('conversation-item');
    this.composer = page.getByTestId('new-conversation');
    this.title = page.getByTestId('conversation-title');
    this.notFound = page.getByTestId('conversation-not-found');
    this.mode = page.getByTestId('mode');
    this.autoBanner = page.getByTestId('auto-banner');
    this.elicitationBanner = page.getByTestId('elicitation-banner');
    this.input = page.getByRole('textbox', { name: 'Message' });
    this.sendButton = page.getByTestId('send');
    this.toolCalls = page.getByTestId('tool-call');
    this.assistantMessages = page.getByTestId('message-assistant');
    this.error = page.getByTestId('chat-error');
  }

  async goto(path = '/chat'): Promise<void> {
    await this.page.goto(path);
    await this.app.waitForHydration();
  }

  /** Signs `user` in on the dev identity provider, starting from the Chat page. */
  async signIn(user: string): Promise<void> {
    await this.goto('/chat');
    await this.app.signInLink.click();
    await new DevSignInPage(this.page).choose(user);
    await expect(this.page).toHaveURL(/\/chat$/);
    await this.app.waitForHydration();
  }

  async signOut(): Promise<void> {
    await this.app.signOutButton.click();
    await this.app.waitForHydration();
    await expect(this.app.authStatus).toHaveText('Not signed in');
  }

  /** Starts a conversation and returns its URL. */
  async newChat(): Promise<string> {
    await this.newChatButton.click();
    // A page load: the conversation's own page, hydrated.
    await expect(this.page).toHaveURL(/\/chat\/[0-9a-f]{32}$/);
    await this.app.waitForHydration();
    await expect(this.conversation).toBeVisible();
    return this.page.url();
  }

  /** At `/chat`: types `text` into the composer and presses Enter; returns the new conversation's id. */
  async start(text: string): Promise<string> {
    await expect(this.composer).toBeVisible();
    await this.input.fill(text);
    await this.input.press('Enter');
    await expect(this.page).toHaveURL(/\/chat\/[0-9a-f]{32}$/);
    await this.app.waitForHydration();
    await expect(this.conversation).toBeVisible();
    return this.page.url().split('/').pop()!;
  }

  /** The conversation's line in the list. */
  item(id: string): Locator {
    return this.conversationItems.and(this.page.locator(`[data-id="${id}"]`));
  }

  async rename(id: string, title: string): Promise<void> {
    const item = this.item(id);
    await item.getByTestId('rename').click();
    await item.getByRole('textbox', { name: 'Title' }).fill(title);
    await item.getByTestId('rename-save').click();
    await expect(item.getByTestId('conversation-link')).toHaveText(title);
  }

  async delete(id: string): Promise<void> {
    const item = this.item(id);
    await item.getByTestId('delete').click();
    await item.getByTestId('confirm-delete').click();
    await expect(this.item(id)).toHaveCount(0);
  }

  async chooseMode(mode: 'manual' | 'auto' | 'elicitation'): Promise<void> {
    await this.mode.selectOption(mode);
    await expect(this.mode).toHaveValue(mode);
  }

  async send(text: string): Promise<void> {
    await expect(this.sendButton).toBeEnabled();
    this.callsBefore = await this.toolCalls.count();
    await this.input.fill(text);
    await this.sendButton.click();
    await expect(this.input).toHaveValue('');
  }

  lastCall(): Locator {
    return this.toolCalls.last();
  }

  /** The last card, once it is one the last message led to (an earlier card can match tool and status too). */
  async expectLastCall(tool: string, status: string): Promise<Locator> {
    const before = this.callsBefore;
    if (before !== undefined) {
      await expect.poll(() => this.toolCalls.count()).toBeGreaterThan(before);
    }
    const card = this.lastCall();
    await expect(card).toHaveAttribute('data-tool', tool);
    await expect(card).toHaveAttribute('data-status', status);
    return card;
  }

  async argumentsOf(card: Locator): Promise<unknown> {
    return JSON.parse((await card.getByTestId('tool-args').textContent()) ?? 'null');
  }

  async resultOf(card: Locator): Promise<string> {
    return ((await card.getByTestId('tool-result').textContent()) ?? '').trim();
  }

  /** A card's arguments exactly as shown (and copied). */
  async argumentsText(card: Locator): Promise<string> {
    return (await card.getByTestId('tool-args').textContent()) ?? '';
  }

  /** A card's text result exactly as shown (and copied). */
  async resultText(card: Locator): Promise<string> {
    return (await card.getByTestId('tool-result').textContent()) ?? '';
  }

  /** The card's "Copy arguments" or "Copy result" button. */
  copyButton(card: Locator, what: 'arguments' | 'result'): Locator {
    return card.getByRole('button', { name: `Copy ${what}` });
  }

  /** The fold a long block sits in (absent when the block is short). */
  fold(card: Locator, what: 'arguments' | 'result'): Locator {
    return card.getByTestId(what === 'arguments' ? 'tool-args-fold' : 'tool-result-fold');
  }

  /** What the page would paste (the test's context must grant 'clipboard-read'). */
  async clipboardText(): Promise<string> {
    return this.page.evaluate(() => navigator.clipboard.readText());
  }
}
