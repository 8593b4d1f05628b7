#!/usr/bin/env node
// Runs the compiled service from dist/ when it is at least as new as src/ and sdk/
// (`npm install` builds it); otherwise runs the TypeScript sources through tsx,
// so a developer's edit is never shadowed by an old build.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function buildIsFresh() {
  try {
    const stamp = statSync(path.join(root, 'dist/.build-stamp')).mtimeMs;
    return ['src', 'sdk'].every((dir) => stamp >= newestMtime(path.join(root, dir)));
  } catch {
    return false;
  }
}

let main;
if (process.env.IMS_FROM_SOURCE !== '1' && buildIsFresh()) {
  ({ main } = await import('../dist/src/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (err) {
  process.stderr.write(`ims: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
