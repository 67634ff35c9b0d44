// Nothing lost under faults and long use, on the real cluster through bin/ksync: the fault
// matrix (each fault while edits flow both ways, judged by the oracle of every write), then the
// soak (edits plus a fault a minute, memory sampled), then the oracle over the whole run and the
// sentinel trees beside both roots. The run writes its figures into docs/reliability.md.
//
// KSYNC_SOAK_MINUTES sets the soak's length (10 by default, 60 by `make soak`),
// KSYNC_REL_FAULTS a comma-separated subset of the matrix (all by default), KSYNC_REL_SEED the
// edits' seed, KSYNC_REL_STOP_S the SIGSTOP fault's length (60 s by default). One part alone:
// --test-name-pattern="fault matrix|whole run" (or "soak|whole run").

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, readClusterInfo } from './helpers/cluster.ts';
import { FAULTS } from '../reliability/faults.ts';
import {
  closeRun,
  judgeRun,
  openRun,
  runPhase,
  type PhaseResult,
  type RunContext,
} from '../reliability/harness.ts';
import {
  writeReliabilityDoc,
  type ReliabilityResults,
  type RunInfo,
} from '../reliability/report.ts';
import { growth, runSoak, type SoakResult } from '../reliability/soak.ts';

const SOAK_MINUTES = Number(process.env['KSYNC_SOAK_MINUTES'] ?? 10);
const SEED = Number(process.env['KSYNC_REL_SEED'] ?? Date.now() % 1_000_000);
const ONLY = process.env['KSYNC_REL_FAULTS']?.split(',').filter((f) => f !== '');
const faults = ONLY === undefined ? FAULTS : FAULTS.filter((f) => ONLY.includes(f.name));

describe('reliability on the real cluster', { timeout: (40 + SOAK_MINUTES * 1.5) * 60_000 }, () => {
  let ctx: RunContext;
  let sentinels: Awaited<ReturnType<RunContext['local']['readSentinels']>>;
  let remoteSentinels: Map<string, string>;
  const matrix: PhaseResult[] = [];
  let soak: SoakResult | undefined;
  let overall: Omit<NonNullable<ReliabilityResults['overall']>, keyof RunInfo> | undefined;

  before(async () => {
    ctx = await openRun({ seed: SEED });
    sentinels = await ctx.local.readSentinels();
    remoteSentinels = await ctx.remote.readSentinels();
  });
  after(async () => {
    if (ctx === undefined) return;
    // A failed run keeps its KSYNC_HOME (the watch log, the conflict store) to look into.
    const clean = overall !== undefined && overall.lost === 0 && overall.diverged === 0;
    await closeRun(ctx, { keepHome: !clean });
    if (!clean) process.stderr.write(`reliability: KSYNC_HOME kept in ${ctx.home}\n`);
    // The parts that ran in full replace the last runs' figures, failures included (the
    // document tells what happened); a subset of the matrix leaves the matrix figures alone.
    const info = {
      date: new Date().toISOString(),
      nodes: readClusterInfo().nodes.length,
      seed: SEED,
    };
    if (overall === undefined) return;
    await writeReliabilityDoc(
      {
        ...(ONLY === undefined && matrix.length === FAULTS.length
          ? { matrix: { ...info, phases: matrix } }
          : {}),
        ...(soak === undefined ? {} : { soak: { ...info, ...soak } }),
        overall: { ...info, ...overall },
      },
      join(REPO_ROOT, 'docs'),
    );
  });

  it(
    'the fault matrix: every fault recovers and loses no edit',
    { timeout: 40 * 60_000 },
    async (t) => {
      for (const [index, fault] of faults.entries()) {
        const phase = await runPhase(ctx, { fault, index, warmupMs: 5000, afterMs: 5000 });
        t.diagnostic(JSON.stringify(phase));
        matrix.push(phase);
      }
      const failed = matrix.filter(
        (p) => p.lost > 0 || p.diverged > 0 || p.recoveryMs === undefined,
      );
      assert.deepEqual(
        failed.map((p) => [p.name, p.lost, p.diverged, p.recoveryMs, p.details.slice(0, 5)]),
        [],
        'faults that lost edits, diverged or never recovered',
      );
    },
  );

  it(
    `the soak (${SOAK_MINUTES} min): no edit lost, memory and fds flat`,
    {
      timeout: (SOAK_MINUTES * 1.5 + 10) * 60_000,
    },
    async () => {
      soak = await runSoak(ctx, { minutes: SOAK_MINUTES, faultEveryMs: 60_000 });
      assert.deepEqual(soak.details, [], 'lost or diverged in the soak');
      assert.equal(
        soak.faults.filter((f) => f.recoveryMs === undefined).length,
        0,
        'every fault recovered',
      );
      const rss = soak.samples.flatMap((s) => (s.daemonMiB === undefined ? [] : [s.daemonMiB]));
      const g = growth(rss);
      assert.ok(g === undefined || g < 1.5, `daemon RSS grew ${g?.toFixed(2)}× over the soak`);
      const fds = soak.samples.flatMap((s) => (s.daemonFds === undefined ? [] : [s.daemonFds]));
      assert.ok((fds.at(-1) ?? 0) <= (fds[0] ?? 0) + 20, `daemon fds ${fds[0]} → ${fds.at(-1)}`);
    },
  );

  it('the whole run: no write lost, nothing touched beside the roots', async () => {
    const { verdict, touched } = await judgeRun(ctx, { local: sentinels, remote: remoteSentinels });
    overall = {
      written: verdict.written,
      lost: verdict.lost.length,
      diverged: verdict.diverged.length,
      outside: touched,
      staged: await ctx.remote.stagedFiles(),
    };
    assert.deepEqual(touched, [], 'written beside the sync roots');
    assert.deepEqual(
      verdict.lost.map((w) => `${w.side} ${w.path}`),
      [],
    );
    assert.deepEqual(verdict.diverged, []);
    assert.equal(overall.staged, 0, 'staged content left in the container root');
  });
});
