import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPolicy } from '../../src/adapters/web/address-policy.ts';
import {
  checkUrlOffline,
  safeFetch,
  WebDownloadError,
  type SafeFetchOptions,
} from '../../src/adapters/web/safe-fetch.ts';

const HOST = '127.0.0.7';
let server: http.Server;
let base = '';
let hits = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    const url = req.url ?? '/';
    if (url === '/ok') return res.end('hello');
    if (url === '/big') return res.writeHead(200, { 'content-length': 1000 }).end(Buffer.alloc(1000));
    if (url === '/big-chunked') {
      res.writeHead(200);
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(100));
      return res.end();
    }
    if (url === '/silent') return; // never answers
    if (url === '/stall') {
      res.writeHead(200);
      return res.write('x'); // then nothing
    }
    if (url.startsWith('/hop/')) {
      const n = Number(url.slice(5));
      return res.writeHead(302, { location: n > 0 ? `/hop/${n - 1}` : '/ok' }).end();
    }
    if (url === '/to-private') return res.writeHead(307, { location: 'http://10.0.0.1/x' }).end();
    if (url === '/to-file') return res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  base = `http://${HOST}:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const opts = { allow: [HOST], maxBytes: 500, headersTimeoutMs: 500, idleTimeoutMs: 500 };
const text = async (url: string, o: SafeFetchOptions = opts) => {
  const body = await safeFetch(url, o);
  const chunks: Buffer[] = [];
  for await (const c of body.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};
const failure = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebDownloadError);
  return (err as WebDownloadError).reason;
};

describe('safeFetch', () => {
  it('fetches from an allowed address and follows redirects up to the limit', async () => {
    expect(await text(`${base}/ok`)).toBe('hello');
    expect(await text(`${base}/hop/4`)).toBe('hello'); // 5 redirects
    expect(await failure(text(`${base}/hop/5`))).toBe('too-many-redirects');
  });

  it('refuses the same server when the allow-list does not name it, before connecting', async () => {
    const before = hits;
    expect(await failure(text(`${base}/ok`, { ...opts, allow: [] }))).toBe('forbidden-target');
    expect(await failure(text(`http://localhost:${new URL(base).port}/ok`))).toBe('forbidden-target');
    expect(hits).toBe(before);
  });

  it('checks every redirect hop as the first', async () => {
    expect(await failure(text(`${base}/to-private`))).toBe('forbidden-target');
    expect(await failure(text(`${base}/to-file`))).toBe('invalid-url');
  });

  it('enforces the size limit by Content-Length and by the bytes that arrive', async () => {
    expect(await failure(text(`${base}/big`))).toBe('too-large');
    expect(await failure(text(`${base}/big-chunked`))).toBe('too-large');
  });

  it('times out a server that does not answer, and one that stalls mid-body', async () => {
    expect(await failure(text(`${base}/silent`))).toBe('timeout');
    expect(await failure(text(`${base}/stall`))).toBe('timeout');
  });

  it('refuses other schemes, credentials and non-200 answers', async () => {
    expect(await failure(text('ftp://example.org/x'))).toBe('invalid-url');
    expect(await failure(text(`http://u:p@${HOST}/ok`))).toBe('invalid-url');
    expect(await failure(text(`${base}/missing`))).toBe('http-status');
  });

  it('names a host that does not exist as such (not worth a retry), and connects nowhere', async () => {
    const before = hits;
    expect(await failure(text('http://ims-safe-fetch.invalid/ok'))).toBe('unknown-host');
    expect(hits).toBe(before);
  });
});

describe('safeFetch against a rebinding resolver', () => {
  const NAME = 'images.rebind.test';
  const port = () => new URL(base).port;
  /** Answers the allowed test server first, then the cloud metadata address, as a rebinding attacker does. */
  const rebinding = () => {
    const asked: string[] = [];
    const resolve = async (host: string) => {
      asked.push(host);
      return [{ address: asked.length === 1 ? HOST : '169.254.169.254', family: 4 }];
    };
    return { asked, resolve };
  };

  it('resolves once per hop and connects to the address it checked, whatever the name answers later', async () => {
    const dns = rebinding();
    const before = hits;
    expect(await text(`http://${NAME}:${port()}/ok`, { ...opts, resolve: dns.resolve })).toBe('hello');
    expect(dns.asked).toEqual([NAME]);
    expect(hits).toBe(before + 1);
  });

  it('judges the name again on a redirect to itself, and refuses the rebound address', async () => {
    const dns = rebinding();
    const reason = await failure(
      safeFetch(`http://${NAME}:${port()}/hop/1`, { ...opts, resolve: dns.resolve }),
    );
    expect(reason).toBe('forbidden-target');
    expect(dns.asked).toEqual([NAME, NAME]);
  });

  it('refuses a name with one forbidden address among allowed ones, before connecting', async () => {
    const before = hits;
    const resolve = async () => [
      { address: HOST, family: 4 },
      { address: '10.0.0.1', family: 4 },
    ];
    expect(await failure(safeFetch(`http://${NAME}:${port()}/ok`, { ...opts, resolve }))).toBe(
      'forbidden-target',
    );
    expect(hits).toBe(before);
  });
});

describe('checkUrlOffline', () => {
  const policy = new AddressPolicy([HOST]);
  const reason = (uri: string) => {
    try {
      checkUrlOffline(uri, policy);
      return null;
    } catch (err) {
      return (err as WebDownloadError).reason;
    }
  };

  it('refuses bad URLs and forbidden address literals, and leaves host names to the download', () => {
    expect(reason('ftp://example.org/x')).toBe('invalid-url');
    expect(reason(`http://u:p@${HOST}/ok`)).toBe('invalid-url');
    expect(reason('not a url')).toBe('invalid-url');
    for (const literal of [
      '127.0.0.1',
      '127.1',
      '2130706433',
      '0x7f.0.0.1',
      '[::1]',
      '[::ffff:7f00:1]',
      '10.0.0.1',
    ])
      expect(reason(`http://${literal}/x`), literal).toBe('forbidden-target');
    expect(reason(`http://${HOST}:8080/x`)).toBeNull();
    // Resolved (and judged) only when the task runs: these pass here.
    expect(reason('http://localhost/x')).toBeNull();
    expect(reason('http://does-not.exist/x')).toBeNull();
  });
});
