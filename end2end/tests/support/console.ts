import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { DevSignInPage } from '../pages/sign-in-page';

/**
 * `portcullis-console` as a person runs it: the real binary as a child process with its own folder,
 * against the dev stack the web server started (its defaults point at mcp-tools on 127.0.0.1:8081, so
 * it gets no server or IdP settings). Sign-in goes through the browser: the console prints the URL on
 * stderr, a Playwright page opens it, and the dev IdP redirects to the console's loopback listener.
 */

/** The repository root (this file is end2end/tests/support/console.ts). */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Where cargo puts the debug binary: `$CARGO_TARGET_DIR` (relative to the repo root) or `target/`. */
export function consoleBinaryPath(): string {
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target');
  return path.join(targetDir, 'debug', 'portcullis-console');
}

/**
 * The console binary, built first when missing (`make test` builds it in its Rust tests, a lone
 * Playwright run may not have). The build uses the flags every other build of the workspace uses, so it
 * reuses their compiled dependencies and invalidates nothing.
 */
export async function ensureConsoleBinary(): Promise<string> {
  const binary = consoleBinaryPath();
  if (existsSync(binary)) return binary;
  const inherited = process.env.RUSTFLAGS ?? '';
  const rustflags = inherited.includes('erase_components') ? inherited : `${inherited} --cfg erase_components`.trim();
  // Cargo runs subcommands (`cargo leptos`) with $CARGO set to itself.
  const cargo = process.env.CARGO ?? 'cargo';
  const args = ['build', '-p', 'console', '--bin', 'portcullis-console'];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(cargo, args, { cwd: REPO_ROOT, env: { ...process.env, RUSTFLAGS: rustflags }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${cargo} ${args.join(' ')} exited ${code}:\n${text.slice(-4000)}`)),
    );
  });
  if (!existsSync(binary)) throw new Error(`the build succeeded but ${binary} is missing:\n${output.slice(-2000)}`);
  return binary;
}

/** How one console run ended. */
export interface ConsoleResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** The browser sign-in URL in the console's output (the first URL on an OAuth authorize endpoint). */
export function signInUrlIn(text: string): URL | undefined {
  const match = /https?:\/\/\S+\/authorize\?\S+/.exec(text);
  return match ? new URL(match[0]) : undefined;
}

/** One running `portcullis-console …`, killed after its timeout. */
export class ConsoleRun {
  readonly finished: Promise<ConsoleResult>;
  private stdoutText = '';
  private stderrText = '';
  private exited = false;
  private timedOut = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly args: readonly string[],
    private readonly child: ChildProcess,
    timeoutMs: number,
  ) {
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.kill();
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdoutText += chunk.toString();
      this.wake();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrText += chunk.toString();
      this.wake();
    });
    this.finished = new Promise<ConsoleResult>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        this.exited = true;
        this.wake();
        resolve({ code, signal, timedOut: this.timedOut, stdout: this.stdoutText, stderr: this.stderrText });
      };
      child.on('close', done);
      // Spawning itself failed (no binary): report it as the run's stderr.
      child.on('error', (error) => {
        this.stderrText += `\n[spawn failed: ${error.message}]`;
        done(null, null);
      });
    });
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** The command, how it ended so far, and everything it printed: for assertion messages. */
  describe(): string {
    const state = this.exited ? `exit ${this.child.exitCode ?? this.child.signalCode}${this.timedOut ? ' (timed out)' : ''}` : 'still running';
    return `portcullis-console ${this.args.join(' ')} [${state}]\n--- stderr ---\n${this.stderrText}\n--- stdout ---\n${this.stdoutText}`;
  }

  /** Waits for the sign-in URL on stderr; fails (with the output) when the console ends without one. */
  async signInUrl(timeoutMs = 30_000): Promise<URL> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const url = signInUrlIn(this.stderrText);
      if (url) return url;
      if (this.exited) throw new Error(`the console ended without printing a sign-in URL:\n${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no sign-in URL within ${timeoutMs} ms:\n${this.describe()}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Waits for the end and expects exit code `code`; returns the result. */
  async expectExit(code = 0): Promise<ConsoleResult> {
    const result = await this.finished;
    expect(result.timedOut, this.describe()).toBe(false);
    expect(result.code, this.describe()).toBe(code);
    return result;
  }

  /** The JSON document a `--json` run printed on stdout (after a successful exit). */
  async json(): Promise<unknown> {
    const result = await this.expectExit(0);
    try {
      return JSON.parse(result.stdout);
    } catch (error) {
      throw new Error(`stdout is not JSON (${String(error)}):\n${this.describe()}`);
    }
  }

  kill(): void {
    if (!this.exited && this.child.pid !== undefined) this.child.kill('SIGKILL');
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The text of a tool result as `call --json` prints it (`content[].text` joined with newlines). */
export function resultText(json: unknown): string {
  const content = (json as { content?: { type?: string; text?: string }[] } | null)?.content ?? [];
  return content
    .filter((part) => (part.type ?? 'text') === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}

/** A console "installation": its own folder (token cache and key file), and the runs in it. */
export class ConsoleClient {
  private readonly runs = new Set<ConsoleRun>();

  private constructor(
    readonly binary: string,
    readonly home: string,
  ) {}

  /** A console with a fresh, empty folder (so it starts signed out). */
  static async start(): Promise<ConsoleClient> {
    const binary = await ensureConsoleBinary();
    const home = await mkdtemp(path.join(os.tmpdir(), 'portcullis-console-e2e-'));
    return new ConsoleClient(binary, home);
  }

  /** Starts `portcullis-console <args>`; it is killed after `timeoutMs`. */
  run(args: readonly string[], { timeoutMs = 60_000 } = {}): ConsoleRun {
    const env: NodeJS.ProcessEnv = {};
    // Nothing of the web server's configuration (APP_*) or log filter leaks into the console: it runs
    // on its defaults, which are the dev stack's.
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('APP_') && !key.startsWith('PORTCULLIS_') && key !== 'RUST_LOG') env[key] = value;
    }
    Object.assign(env, {
      PORTCULLIS_CONSOLE_HOME: this.home,
      APP_CONSOLE__OPEN_BROWSER: 'false',
      APP_CONSOLE__KEY_STORE: 'file',
      // The dev stack is on loopback: never through a proxy from the environment.
      NO_PROXY: '127.0.0.1,localhost',
    });
    const child = spawn(this.binary, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run = new ConsoleRun(args, child, timeoutMs);
    this.runs.add(run);
    void run.finished.then(() => this.runs.delete(run));
    return run;
  }

  /** Kills what still runs and deletes the folder (with its token cache). */
  async dispose(): Promise<void> {
    const running = [...this.runs];
    for (const run of running) run.kill();
    await Promise.all(running.map((run) => run.finished));
    await rm(this.home, { recursive: true, force: true });
  }
}

/** The console's own loopback page, where the IdP sends the browser back after sign-in. */
export class ConsoleCallbackPage {
  readonly heading: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1 });
  }

  async expectSignedIn(): Promise<void> {
    await expect(this.heading).toHaveText('Signed in');
    await expect(this.page.getByText('You are signed in to the Portcullis console')).toBeVisible();
    expect(new URL(this.page.url()).origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }
}

/**
 * Completes the console's browser sign-in as `user` in a new page of `context`: open the printed URL,
 * choose the user on the dev IdP, land on the console's loopback page. The page is closed afterwards.
 */
export async function signInConsoleInBrowser(context: BrowserContext, url: URL, user: string): Promise<void> {
  const page = await context.newPage();
  try {
    await page.goto(url.toString());
    await new DevSignInPage(page).choose(user);
    await new ConsoleCallbackPage(page).expectSignedIn();
  } finally {
    await page.close();
  }
}
