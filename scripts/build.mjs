// Compiles src/ to dist/ and stamps it, so bin/ims.js can tell a fresh build from a stale one;
// then builds the web console (console/ -> console/dist) when its sources changed.
/* global process */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
writeFileSync('dist/.build-stamp', `${new Date().toISOString()}\n`);
execFileSync(process.execPath, ['scripts/build-console.mjs'], { stdio: 'inherit' });
