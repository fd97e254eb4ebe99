// A person at a real browser, for the Go integration tests of the authorization code
// login: run as OPENCODE_OAUTH2_BROWSER="node chromium-login.mjs <result-file>", it gets
// the login URL as its last argument, opens it in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, with a fresh profile), signs in on the
// test authorization server's login form when one is shown, waits for the sidecar's
// loopback result page and writes {ok, page, text, at} to <result-file>. It never
// writes the callback URL (it carries the code). It gives up after 90 s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [resultFile, url] = process.argv.slice(2);
if (!resultFile || !url) {
  console.error('usage: node chromium-login.mjs <result-file> <url>');
  process.exit(64);
}
const user = process.env.CHROMIUM_LOGIN_USER || 'alice';
const password = process.env.CHROMIUM_LOGIN_PASSWORD || 'demo';

function report(result) {
  writeFileSync(resultFile, JSON.stringify(result));
}

const profile = mkdtempSync(join(tmpdir(), 'opencode-oauth2-chromium-'));
let context;
const watchdog = setTimeout(async () => {
  report({ ok: false, error: 'gave up after 90 s' });
  try { await context?.close(); } catch {}
  rmSync(profile, { recursive: true, force: true });
  process.exit(2);
}, 90_000);

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  const result = page.locator('main#login-success, main#login-failure, main#login-info');
  const form = page.locator('#login-form');
  await Promise.race([result.waitFor({ timeout: 30_000 }), form.waitFor({ timeout: 30_000 })]);
  if (await form.count() > 0) {
    await page.fill('#login', user);
    await page.fill('#password', password);
    await page.click('#submit');
  }
  await result.waitFor({ timeout: 60_000 });
  const at = new URL(page.url());
  report({
    ok: (await result.getAttribute('id')) === 'login-success',
    page: await result.getAttribute('id'),
    text: (await result.innerText()).slice(0, 500),
    at: at.origin + at.pathname,
  });
} catch (err) {
  report({ ok: false, error: String(err?.message ?? err).slice(0, 500) });
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  try { await context?.close(); } catch {}
  rmSync(profile, { recursive: true, force: true });
}
