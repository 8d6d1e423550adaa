// Playwright with fidosim as the security key: see docs/recipes/playwright.md.
// The browsers are the system's own (Debian's chromium and firefox-esr), so
// `npx playwright install` is not needed. Firefox runs through WebDriver
// BiDi (channel "moz-firefox"), which drives a stock Firefox.
import { defineConfig } from '@playwright/test';

const port = Number(process.env.APP_PORT ?? 8000);
const python = process.env.PYTHON ?? 'python3';

export default defineConfig({
  testDir: 'playwright',
  // One key, so one test at a time; software rendering in a slow VM needs
  // generous timeouts (each WebAuthn ceremony waits for the key's touch).
  workers: 1,
  timeout: 300_000,
  expect: { timeout: 120_000 },
  reporter: [['list']],
  outputDir: process.env.PW_OUTPUT_DIR ?? 'test-results',
  use: { baseURL: `http://localhost:${port}` },
  webServer: {
    command: `${python} app.py ${port}`,
    url: `http://localhost:${port}/`,
    reuseExistingServer: true,
    timeout: 120_000,
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' },
      },
    },
    {
      name: 'firefox',
      use: {
        browserName: 'firefox',
        channel: 'moz-firefox',
        launchOptions: { executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr' },
      },
    },
  ],
});
