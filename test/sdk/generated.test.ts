import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('generated SDK', () => {
  it('sdk/openapi.json and sdk/schema.d.ts match what the server documents now', async () => {
    // Builds the app in-process and regenerates; a route or schema change without
    // `npm run sdk` fails here (and so in CI).
    const failure = await run(process.execPath, ['scripts/gen-sdk.mjs', '--check'], {
      timeout: 120_000,
    }).then(
      () => null,
      (err: { stderr?: string; code?: number }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(failure).toBeNull();
  }, 180_000);
});
