// docs-browser.js: the /docs and /redoc pages of evfcgi's demo app in a
// real headless Chromium, driven by playwright-core.  Test tooling only
// (tests/integration/test_openapi.sh runs it).
//
//   node docs-browser.js BASE_URL ARTIFACT_PREFIX
//
// Through BASE_URL (nginx in front of evfcgid): on /docs, expand
// GET /items/{item_id}, "Try it out", fill 5, Execute and see the 200 body;
// on /redoc, see the operations rendered; on /api/docs (the app mounted
// under /api), see the document loaded from /api/openapi.json and execute
// the same call through the prefix.  Screenshots go to
// ARTIFACT_PREFIX-docs.png, -redoc.png and -prefix.png.  Every wait has a
// timeout; any failure exits non-zero with what was missing.
'use strict';
const { chromium } = require('playwright-core');

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
    console.error('usage: docs-browser.js BASE_URL ARTIFACT_PREFIX');
    process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 30000;
const OP = 'operations-default-read_item_items__item_id__get';

function step(what) {
    console.log(`# ${what}`);
}

// Swagger UI: expand the operation, try it out with item_id 5, and wait
// for the live response: status 200 and the demo's body.
async function tryItemFive(page, url, shot, expectUrl) {
    step(`open ${url}`);
    const seen = [];
    page.on('request', (req) => seen.push(req.url()));
    await page.goto(url, { timeout: TIMEOUT });
    const op = page.locator(`#${OP}`);
    await op.waitFor({ timeout: TIMEOUT });
    step('the operation GET /items/{item_id} is listed');
    await op.locator('.opblock-summary-control').click({ timeout: TIMEOUT });
    await op.locator('button.try-out__btn').click({ timeout: TIMEOUT });
    step('"Try it out" clicked');
    await op.locator('tr[data-param-name="item_id"] input')
        .fill('5', { timeout: TIMEOUT });
    await op.locator('button.execute').click({ timeout: TIMEOUT });
    step('Execute clicked with item_id 5');
    const live = op.locator('.live-responses-table');
    await live.waitFor({ timeout: TIMEOUT });
    const status = live.locator('tbody .response-col_status').first();
    await page.waitForFunction(
        (el) => el && el.textContent.trim() === '200',
        await status.elementHandle({ timeout: TIMEOUT }),
        { timeout: TIMEOUT });
    const body = live.locator('.response-col_description pre').first();
    await page.waitForFunction(
        (el) => el && /"item_id":\s*5/.test(el.textContent) &&
            /"data":\s*"some data"/.test(el.textContent),
        await body.elementHandle({ timeout: TIMEOUT }),
        { timeout: TIMEOUT });
    const text = (await body.textContent()).replace(/\s+/g, ' ').trim();
    console.log(`response in the page: 200 ${text}`);
    if (!seen.some((u) => u.endsWith(expectUrl)))
        throw new Error(`the page never requested ${expectUrl}; it ` +
                        `requested: ${seen.join(' ')}`);
    console.log(`the page called ${expectUrl}`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
}

async function redoc(page, url, shot) {
    step(`open ${url}`);
    await page.goto(url, { timeout: TIMEOUT });
    // ReDoc renders each operation as a section titled with its summary.
    const names = ['Read an item', 'Say hello', 'Echo the body back'];
    for (const name of names)
        await page.locator('h2', { hasText: name }).first()
            .waitFor({ timeout: TIMEOUT });
    const ops = await page.locator('[id^="operation/"]').count();
    if (ops < 10)
        throw new Error(`ReDoc shows ${ops} operations, want >= 10`);
    console.log(`redoc: ${ops} operations rendered (${names.join(', ')} ` +
                'among them)');
    await page.screenshot({ path: shot, fullPage: false });
    console.log(`screenshot: ${shot}`);
}

(async () => {
    const browser = await chromium.launch({
        executablePath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-proxy-server'],
    });
    let rc = 0;
    try {
        const ctx = await browser.newContext({
            viewport: { width: 1280, height: 900 },
        });
        const page = await ctx.newPage();
        page.on('pageerror', (e) => console.log(`# page error: ${e}`));
        await tryItemFive(page, `${base}/docs`, `${artifacts}-docs.png`,
                          '/items/5');
        await redoc(await ctx.newPage(), `${base}/redoc`,
                    `${artifacts}-redoc.png`);
        const prefixed = await ctx.newPage();
        const loaded = prefixed.waitForResponse(
            (r) => r.url() === `${base}/api/openapi.json` &&
                r.status() === 200, { timeout: TIMEOUT });
        await tryItemFive(prefixed, `${base}/api/docs`,
                          `${artifacts}-prefix.png`, '/api/items/5');
        await loaded;
        console.log('prefix: the page loaded /api/openapi.json');
        console.log('browser: all checks passed');
    } catch (e) {
        console.log(`browser: FAILED: ${e.message}`);
        rc = 1;
    } finally {
        await browser.close();
    }
    process.exit(rc);
})();
