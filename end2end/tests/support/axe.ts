import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/** The impacts that fail a check; moderate and minor findings are reported by axe but not blocking. */
const BLOCKING = new Set(['serious', 'critical']);

export type ColorScheme = 'light' | 'dark';

/** One violation as a line an assertion message can show: rule, impact, help, and where. */
function describe(violation: { id: string; impact?: string | null; help: string; nodes: { target: unknown; failureSummary?: string }[] }): string {
  const where = violation.nodes
    .slice(0, 5)
    .map((node) => `    ${JSON.stringify(node.target)}: ${(node.failureSummary ?? '').replace(/\s+/g, ' ')}`)
    .join('\n');
  const more = violation.nodes.length > 5 ? `\n    … and ${violation.nodes.length - 5} more` : '';
  return `${violation.id} (${violation.impact}): ${violation.help}\n${where}${more}`;
}

/**
 * Runs axe on the page as it is now, once per colour scheme (the page's colours follow
 * prefers-color-scheme, so each scheme is its own contrast check), and fails on any serious or critical
 * violation, naming `what` and the scheme. The page is left in the light scheme. Moderate and minor
 * findings are attached to the test's report (and printed when AXE_VERBOSE is set).
 */
export async function expectNoSeriousViolations(page: Page, what: string, schemes: readonly ColorScheme[] = ['light', 'dark']): Promise<void> {
  try {
    for (const colorScheme of schemes) {
      await page.emulateMedia({ colorScheme });
      const results = await new AxeBuilder({ page }).analyze();
      const blocking = results.violations.filter((violation) => BLOCKING.has(violation.impact ?? ''));
      const other = results.violations.filter((violation) => !BLOCKING.has(violation.impact ?? ''));
      if (other.length > 0) {
        const text = other.map(describe).join('\n');
        await test.info().attach(`axe ${what} (${colorScheme}): moderate and minor`, { body: text, contentType: 'text/plain' });
        if (process.env.AXE_VERBOSE) console.log(`axe on ${what} (${colorScheme}), not blocking:\n${text}`);
      }
      expect(blocking.map(describe).join('\n'), `axe on ${what} (${colorScheme})`).toBe('');
    }
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
  }
}
