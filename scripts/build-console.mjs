// Builds the web console (console/ -> console/dist) with a type check first, unless
// the sources are unchanged since the last build (their hash is stamped in the build).
// Run by `npm install` (prepare), `npm test`, and the console tests before they start
// a browser; a lock directory keeps concurrent runs from building over each other.
// `--force` builds even when the stamp matches.
/* global process, console, setTimeout */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const consoleDir = path.join(root, 'console');
const dist = path.join(consoleDir, 'dist');
const stampFile = path.join(dist, '.build-hash');
const lockDir = path.join(consoleDir, '.build-lock');
const require = createRequire(import.meta.url);

function inputs() {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(path.join(consoleDir, 'src'));
  files.push(
    ...['index.html', 'tsconfig.json', 'vite.config.mjs'].map((f) => path.join(consoleDir, f)),
    path.join(root, 'sdk', 'client.ts'),
    path.join(root, 'sdk', 'schema.d.ts'),
    path.join(root, 'package-lock.json'),
  );
  const hash = createHash('sha256');
  for (const f of files.sort()) hash.update(path.relative(root, f)).update('\0').update(readFileSync(f));
  return hash.digest('hex');
}

const current = () => (existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : null);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function withLock(fn) {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path.join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (pid && !alive(pid)) rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`console build: ${lockDir} is held by process ${pid}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

await withLock(async () => {
  const hash = inputs();
  if (!process.argv.includes('--force') && current() === hash) {
    console.log('console: build is up to date');
    return;
  }
  console.log('console: type check');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'console/tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  const out = path.join(consoleDir, `.dist-${process.pid}`);
  console.log('console: vite build');
  // Test runners set NODE_ENV=test, which would give React's development build.
  process.env.NODE_ENV = 'production';
  const { build } = await import('vite');
  await build({
    configFile: path.join(consoleDir, 'vite.config.mjs'),
    mode: 'production',
    logLevel: 'warn',
    build: { outDir: out },
  });
  // The stamp goes last: the server reloads the build when it changes.
  writeFileSync(path.join(out, '.build-hash'), `${hash}\n`);
  const old = path.join(consoleDir, `.dist-old-${process.pid}`);
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(out, dist);
  rmSync(old, { recursive: true, force: true });
  console.log('console: built into console/dist');
});
