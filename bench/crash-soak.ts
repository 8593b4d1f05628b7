/**
 * The long crash run (issue 7 item 4), not part of CI:
 *   npx tsx bench/crash-soak.ts [--db sqlite|postgres] [--store file|s3] [--minutes 30] [--size-mib 8]
 * Kills the only IMS process with SIGKILL at random moments during uploads, web-download imports with
 * conversion, IMS copies and deletes, restarts it, round after round for the given time, then checks
 * that no active image holds wrong bytes (sha256 of each download), nothing is left saving/uploading/
 * importing or queued as a job, and after `ims gc --grace 0s` the store holds exactly the objects
 * of the blobs table. Exit 0 when all holds, 1 otherwise. The same harness runs for a minute in CI
 * (test/scaleout/crash.test.ts). PostgreSQL: IMS_TEST_PG_URL's server (default 127.0.0.1:5432);
 * S3: eval "$(../shared/services/s3-up.sh)" first. Uses dist/ when fresh (`npm run build`).
 */
import { parseArgs } from 'node:util';
import { runCrashRounds } from '../test/helpers/crash-harness.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    store: { type: 'string', default: 'file' },
    minutes: { type: 'string', default: '30' },
    'size-mib': { type: 'string', default: '8' },
  },
});
if (!['sqlite', 'postgres'].includes(values.db!) || !['file', 's3'].includes(values.store!)) {
  process.stderr.write(
    'usage: bench/crash-soak.ts [--db sqlite|postgres] [--store file|s3] [--minutes N] [--size-mib N]\n',
  );
  process.exit(2);
}
const started = Date.now();
const report = await runCrashRounds({
  db: values.db as 'sqlite' | 'postgres',
  store: values.store as 'file' | 's3',
  durationMs: Number(values.minutes) * 60_000,
  minRounds: 1,
  imageBytes: Number(values['size-mib']) * 1024 * 1024,
  log: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(
  `${JSON.stringify({ ...report, seconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`,
);
process.stdout.write(report.problems.length ? 'FAIL\n' : 'OK: every crash left the deployment intact\n');
process.exit(report.problems.length ? 1 : 0);
