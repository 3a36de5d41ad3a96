// `npm test`: type-checks and lints, then runs every tier (Node unit tests, the architecture check among them; browser tests in Debian's Chromium with WebGPU
// on SwiftShader, and the CPU fallback's in a Chromium without WebGPU; end-to-end tests of the built demo page), and ends with one line "N passed, N failed" summed over the tiers,
// so a run that executed no test is visible. Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_PATH } from './chromium.mjs';

const extra = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'weft-test-'));
const nodeOptions = [process.env.NODE_OPTIONS ?? '', '--import=./scripts/node-compat.mjs'].join(' ').trim();
let passed = 0,
  failed = 0,
  ok = true;

// The type-check first (the library, the Deno shell, the README's samples): a type error is a
// failure like a failing test.
const typecheck = spawnSync('npm', ['run', 'typecheck'], { stdio: 'inherit' });
if (typecheck.status !== 0) {
  console.error('The type-check failed (npm run typecheck).');
  failed++;
  ok = false;
}
// Lint and format (Biome, biome.json): a finding or a file not formatted is a failure too.
const lint = spawnSync('npx', ['biome', 'ci', '--error-on-warnings', '.'], { stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('Lint or formatting failed (npm run lint; npm run format writes the formatting).');
  failed++;
  ok = false;
}

for (const project of ['unit', 'browser', 'browser-nogpu', 'e2e']) {
  if (project !== 'unit' && !existsSync(CHROMIUM_PATH)) {
    console.error(`Chromium was not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set WEFT_CHROMIUM.`);
    failed++;
    ok = false;
    continue;
  }
  const out = join(dir, `${project}.json`);
  const r = spawnSync('npx', ['vitest', 'run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
  });
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    // A file that failed outside its tests (it did not load, or a beforeAll/afterAll hook threw)
    // has no failed test but did not pass either.
    failed += report.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed')).length;
  } else if (r.status !== 0) {
    failed++;
  }
  if (r.status !== 0) ok = false;
}
rmSync(dir, { recursive: true, force: true });
if (ok && failed > 0) ok = false;
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
