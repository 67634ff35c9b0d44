/**
 * The protocol fuzzer against the real agent process (helpers/protocol-fuzz.ts says what it
 * generates and what it checks per connection). After every case this test also checks the
 * process: still running and `/healthz` 200; and the disk: a sentinel tree next to the agent's
 * root, reachable from inside it through planted symlinks and a hard link, stays byte- and
 * mode-identical, and nothing new appears next to the root.
 *
 * It runs for KSYNC_FUZZ_SECONDS (60 in the integration tier; `make fuzz DURATION=600` for
 * longer); KSYNC_FUZZ_SEED replays a run. A failure prints fast-check's seed and shrunk case.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  REPO,
  makeAgentFixture,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { fuzzCases, runFuzzCase, type FuzzContent } from './helpers/protocol-fuzz.ts';
import { readLineCoverage } from './helpers/v8-coverage.ts';

const SECONDS = Number(process.env.KSYNC_FUZZ_SECONDS ?? 60);
const SEED = Number(process.env.KSYNC_FUZZ_SEED ?? Date.now() % 2 ** 31);

/** The protocol code whose line coverage the run reports. */
const COVERED_FILES = [
  'packages/agent/src/server.ts',
  'packages/agent/src/streams.ts',
  'packages/core/src/protocol/messages.ts',
  'packages/core/src/protocol/framing.ts',
  'packages/fs/src/apply.ts',
  'packages/fs/src/safe-path.ts',
];

function content(data: Buffer): FuzzContent {
  return { data, digest: createHash('sha256').update(data).digest('hex') };
}

/** The content the fuzzer stages and names by digest; each one is also a file in the root. */
const CONTENTS = [
  content(Buffer.alloc(0)),
  content(Buffer.from('hello\n')),
  content(Buffer.from('hard-linked\n')),
  content(Buffer.from('ok\n')),
  content(Buffer.from('f\n')),
  content(randomBytes(1000)),
  content(randomBytes(300 * 1024)),
  content(randomBytes(2.5 * 1024 * 1024)),
];

/** Type, mode and content digest of everything below `dir`, by relative path. */
async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, name);
    const stats = await lstat(path);
    const digest = stats.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : '';
    out[name] = `${stats.mode.toString(8)} ${stats.size} ${digest}`;
  }
  return out;
}

describe('agent: protocol fuzzer', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;
  let outside: string;
  let coverageDir: string;

  before(async () => {
    fixture = await makeAgentFixture();
    outside = join(fixture.dir, 'outside');
    await mkdir(join(outside, 'sub'), { recursive: true });
    await writeFile(join(outside, 'secret'), 'top secret\n', { mode: 0o600 });
    await writeFile(join(outside, 'sub/file'), 'sub\n');
    await writeFile(join(outside, 'linked'), 'hard-linked\n', { mode: 0o644 });
    const app = join(fixture.root, 'app');
    await mkdir(join(app, 'd'), { recursive: true });
    await writeFile(join(app, 'ok.txt'), 'ok\n');
    await writeFile(join(app, 'd/f'), 'f\n');
    await symlink(outside, join(app, 'evil'));
    await symlink('../../outside', join(app, 'evil-rel'));
    await symlink(outside, join(fixture.root, 'evil-root'));
    // A second name for a file outside the root: the agent may read it by that name, but must
    // never change the outside inode (its content or mode).
    await link(join(outside, 'linked'), join(app, 'hard'));
    coverageDir = join(fixture.dir, 'coverage');
    for (const [i, c] of CONTENTS.entries()) await writeFile(join(app, `c${i}`), c.data);
    // Pings every 250 ms, so that keepalive interleaves with the traffic.
    // The agent runs from its sources (bin/ksync-agent runs the bundle of the same code), so that
    // V8's coverage maps onto the source files.
    agent = await fixture.start({
      command: [process.execPath, join(REPO, 'packages/agent/src/main.ts')],
      pingIntervalMs: 250,
      env: { NODE_V8_COVERAGE: coverageDir },
    });
  });

  after(async () => {
    await fixture.cleanup();
  });

  it(`survives ${SECONDS} s of generated hostile traffic with every invariant intact`, async (t) => {
    const sentinel = await readTree(outside);
    const besideRoot = (await readdir(fixture.dir)).sort();
    const world = {
      token: fixture.token,
      contents: CONTENTS,
      files: CONTENTS.map((c, i) => ({ path: `c${i}`, digest: c.digest })),
      paths: [
        ...CONTENTS.map((_, i) => `c${i}`),
        'ok.txt',
        'f',
        'd',
        'd/f',
        'd/e/f',
        'hard',
        'evil',
        'evil/secret',
        'evil/new',
        'evil-rel/secret',
        'evil-root/secret',
        'app/hard',
        'app/evil/secret',
        'x'.repeat(255),
        'x'.repeat(256),
        'ü',
        'a\nb',
        '.ksync-tmp-1',
      ],
      roots: ['/app', '/', '/new', '/app/d'],
      badRoots: ['/evil-root', '/app/evil', '/app/evil-rel/x', '/../outside'],
    };
    const tally = {
      cases: 0,
      frames: 0,
      opened: 0,
      slowest: 0,
      answers: new Map<string, number>(),
    };
    const closes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fuzzCases(world), async (fuzzCase) => {
        const started = Date.now();
        const outcome = await runFuzzCase(agent.url, fuzzCase);
        tally.slowest = Math.max(tally.slowest, Date.now() - started);
        tally.cases++;
        tally.frames += outcome.frames;
        if (outcome.opened) tally.opened++;
        for (const answer of outcome.answers)
          tally.answers.set(answer, (tally.answers.get(answer) ?? 0) + 1);
        const close = String(outcome.closeCode ?? 'by-fuzzer');
        closes.set(close, (closes.get(close) ?? 0) + 1);
        assert.deepEqual(
          outcome.violations.map((v) => v.what),
          [],
          JSON.stringify(outcome.violations[0]?.received.slice(-8)),
        );
        assert.equal(agent.child.exitCode, null, 'the agent process is running');
        assert.equal((await fetch(`http://127.0.0.1:${agent.port}/healthz`)).status, 200);
        assert.deepEqual(
          await readTree(outside),
          sentinel,
          'the tree outside the root is unchanged',
        );
        assert.deepEqual((await readdir(fixture.dir)).sort(), besideRoot);
      }),
      {
        numRuns: Number.MAX_SAFE_INTEGER,
        interruptAfterTimeLimit: SECONDS * 1000,
        markInterruptAsFailure: false,
        seed: SEED,
      },
    );
    t.diagnostic(
      `fuzz (seed ${SEED}): ${tally.cases} connections, ${tally.frames} frames, ${tally.opened} opened, slowest ${tally.slowest} ms; ` +
        `answers ${JSON.stringify(Object.fromEntries(tally.answers))}; agent closes ${JSON.stringify(Object.fromEntries(closes))}`,
    );
    // Which lines of the protocol code the traffic reached (the agent writes its coverage on exit).
    assert.deepEqual(await agent.stop('SIGTERM'), { code: 0, signal: null });
    const coverage = await readLineCoverage(
      coverageDir,
      COVERED_FILES.map((f) => join(REPO, f)),
    );
    t.diagnostic(
      `fuzz: line coverage ${coverage.map((c) => `${relative(REPO, c.file)} ${c.covered}/${c.lines}`).join(', ')}`,
    );
    assert.ok(tally.cases > 0, 'the fuzzer ran');
    assert.ok(tally.opened > tally.cases / 4, 'most cases get past the handshake');
  });
});
