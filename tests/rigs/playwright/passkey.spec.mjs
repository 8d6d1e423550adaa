// Sign up and sign in with a passkey on the demo site (../app.py), with
// fidosim as the USB security key, and check through the key's own events
// that it made and used exactly that credential. The key must be running
// (`fidosim run`) with its control socket at $FIDOSIM_CONTROL_SOCKET (or the
// default); every test starts from a reset key.
import { test as base, expect } from '@playwright/test';
import { Fidosim, toBase64url } from '../fidosim.mjs';

// Without a GPU (the test VM), Chromium's GPU process crashes now and then as
// a WebAuthn sheet opens or closes; it restarts, but by default the sixth
// crash makes the whole browser quit ("GPU process isn't usable. Goodbye."),
// and three tests in one browser reach that. Without the crash limit
// Chromium only restarts the GPU process (docs/recipes/playwright.md).
const CHROMIUM_ARGS = ['--disable-gpu-process-crash-limit'];

// Headless Chromium keeps a request the key refused open behind an error
// sheet, whatever the WebAuthn timeout says, so the refused-touch test gives
// the page's create()/get() calls a timeout of their own before the page
// loads; the request then ends with TimeoutError.
const PAGE_TIMEOUT_MS = 30_000;
function webauthnTimeout(ms) {
  for (const name of ['create', 'get']) {
    const original = navigator.credentials[name].bind(navigator.credentials);
    navigator.credentials[name] = (options = {}) => {
      const timeout = AbortSignal.timeout(ms);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      return original({ ...options, signal });
    };
  }
}

const test = base.extend({
  launchOptions: [
    async ({ launchOptions, browserName }, use) => {
      if (browserName !== 'chromium') return use(launchOptions);
      await use({ ...launchOptions, args: [...(launchOptions.args ?? []), ...CHROMIUM_ARGS] });
    },
    { scope: 'worker' },
  ],
  // A reset key (no credentials) whose events the test follows.
  key: async ({}, use) => {
    const key = new Fidosim();
    await key.request('POST', '/reset');
    await key.request('PUT', '/presence', { presence: 'approve' });
    const events = key.follow();
    await events.ready;
    await use({ control: key, events });
    events.close();
  },
});

async function signUp(page, username) {
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.locator('#status')).toHaveText(`Signed up as ${username}`);
  return page.locator('#credential').textContent();
}

async function signIn(page) {
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#status')).not.toHaveText('Signing in...');
  return page.locator('#status').textContent();
}

test('signs up and signs in with a passkey', async ({ page, key }) => {
  await page.goto('/');
  const credentialId = await signUp(page, 'alice');

  // The key made a discoverable credential for this site, the one the site stored.
  const created = await key.events.next('credential.created');
  expect(created.rpId).toBe('localhost');
  expect(toBase64url(created.credentialId)).toBe(credentialId);
  const stored = await key.control.request('GET', '/credentials');
  expect(stored.map((c) => toBase64url(c.credentialId))).toEqual([credentialId]);

  // Username-less sign-in: the browser finds the passkey on the key.
  expect(await signIn(page)).toBe('Signed in as alice');
  const asserted = await key.events.next('credential.asserted');
  expect(toBase64url(asserted.credentialId)).toBe(credentialId);
  expect(asserted.up).toBe(true);
  expect(asserted.uv).toBe(true); // UV preferred, and the key has built-in UV
  await expect(page.locator('#counter')).toHaveText(String(asserted.signCount));
});

test('the site refuses a key whose counter went back', async ({ page, key }) => {
  await page.goto('/');
  const credentialId = await signUp(page, 'bob');
  const created = await key.events.next('credential.created');
  expect(await signIn(page)).toBe('Signed in as bob');
  const first = await key.events.next('credential.asserted');

  // Rewind the key's counter, as a cloned key that lags behind would be.
  await key.control.request(
    'PUT',
    `/credentials/${encodeURIComponent(created.credentialId)}/counter`,
    { signCount: first.signCount - 1 },
  );
  expect(await signIn(page)).toMatch(/^Error: .*signature counter .* is not above/);
  const second = await key.events.next('credential.asserted');
  expect(toBase64url(second.credentialId)).toBe(credentialId);
  expect(second.signCount).toBe(first.signCount); // signed, and refused by the site
});

test('a refused touch ends the request', async ({ page, key, browserName }) => {
  const chromium = browserName === 'chromium';
  if (chromium) await page.addInitScript(webauthnTimeout, PAGE_TIMEOUT_MS);
  // The user declines: the key answers CTAP2_ERR_OPERATION_DENIED.
  await key.control.request('PUT', '/presence', { presence: 'deny' });
  await page.goto('/');
  await page.getByLabel('Username').fill('carol');
  await page.getByRole('button', { name: 'Sign up' }).click();
  // Firefox rejects by itself; in Chromium the page's timeout ends it.
  await expect(page.locator('#status')).toHaveText(
    chromium ? /^Error: TimeoutError/ : /^Error: NotAllowedError/,
  );
  // With UV preferred the browser first asks for a UV token
  // (getPinUvAuthTokenUsingUvWithPermissions), whose built-in UV needs the
  // user: that is the request the key refuses, and nothing follows.
  const refused = await key.events.next('ctap.error');
  expect(refused.command).toBe('clientPIN');
  expect(refused.status).toMatch(/^CTAP2_ERR_OPERATION_DENIED/);
  expect(await key.control.request('GET', '/credentials')).toEqual([]);
});
