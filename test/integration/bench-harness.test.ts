/**
 * The benchmark harness cannot rot: `bench/run.ts --quick --profile` runs every scenario with
 * tiny sizes (ksync in direct mode; Mutagen too when bench/mutagen.sh has built it) and must
 * write sane results, the doc and its plots.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Results } from '../../bench/results.ts';
import { REPO } from './helpers/agent-process.ts';

/** Every row a quick run measures for ksync, with the range its values must fall in. */
const SANE: Record<string, [number, number]> = {
  'edit-small': [0.1, 60_000],
  'edit-first-small': [0.1, 60_000],
  'edit-large': [0.1, 60_000],
  'edit-first-large': [0.1, 60_000],
  'first-medium': [0.01, 600],
  'first-large': [0.01, 600],
  'restart-large': [0.01, 600],
  'restart-wire': [0.0001, 1_000],
  burst: [0.001, 600],
  'mem-large': [10, 8_192],
  'mem-big': [10, 8_192],
  'big-up': [0.1, 100_000],
  'big-down': [0.1, 100_000],
  'delta-time': [0.001, 600],
  'delta-wire': [0.000001, 1_000],
  'idle-cpu': [0, 60],
  'scale-time:200': [0.01, 600],
  'scale-mem:200': [10, 8_192],
  'scale-time:2000': [0.01, 600],
  'scale-mem:2000': [10, 8_192],
};

/** Runs `node bench/run.ts ...args`; fails with its output unless it exits 0. */
async function harness(args: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, ['bench/run.ts', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (output += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (output += t));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, output);
}

test(
  'bench/run.ts --quick writes sane results, benchmarks.md and SVG plots',
  { timeout: 600_000 },
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'ksync-bench-test-'));
    try {
      await harness(['--quick', '--profile', '--out', out]);

      const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Results;
      assert.ok(results.tools.includes('ksync'));
      assert.deepEqual(results.failures, []);
      for (const [row, [low, high]] of Object.entries(SANE)) {
        const values = results.samples
          .filter((s) => s.row === row && s.tool === 'ksync')
          .map((s) => s.value);
        assert.ok(values.length > 0, `no ksync sample of ${row}`);
        for (const value of values) {
          assert.ok(value >= low && value <= high, `${row}: ${value} is outside [${low}, ${high}]`);
        }
      }
      assert.equal(
        results.samples.filter((s) => s.row === 'edit-small' && s.tool === 'ksync').length,
        6,
      );
      if (results.tools.includes('mutagen')) {
        assert.ok(results.samples.some((s) => s.row === 'first-medium' && s.tool === 'mutagen'));
      }
      // Through port-forward only with a running cluster; otherwise a note says why not.
      if (results.tools.includes('ksync-kube')) {
        assert.ok(results.samples.some((s) => s.row === 'first-medium' && s.tool === 'ksync-kube'));
      } else {
        assert.ok(
          results.notRun.some((note) => note.startsWith('ksync-kube')),
          'ksync-kube note',
        );
      }
      assert.equal(results.profiles.length, 10, 'daemon and agent profiles of five scenarios');
      for (const profile of results.profiles) assert.ok(profile.top.length > 0, profile.scenario);
      for (const traffic of results.traffic) {
        assert.ok(traffic.framesToAgent > 0 && traffic.framesFromAgent > 0, traffic.scenario);
      }

      const doc = await readFile(join(out, 'benchmarks.md'), 'utf8');
      assert.match(doc, /^# Benchmarks/);
      assert.match(doc, /\| first sync, 500 files \/ 5 MB +\| [\d.]+ s \(/);
      assert.match(doc, /\| burst of 100 changed files +\| [\d.]+ s \(/);
      assert.doesNotMatch(doc, /NaN|undefined|Infinity/);
      assert.match(doc, /!\[First sync time by tree size\]\(bench-scaling-time\.svg\)/);
      for (const name of ['bench-scaling-time.svg', 'bench-scaling-memory.svg']) {
        const svg = await readFile(join(out, name), 'utf8');
        assert.match(svg, /^<svg /);
        assert.doesNotMatch(svg, /NaN|Infinity/);
        const points = /<polyline [^>]*points="([^"]+)"/.exec(svg)?.[1]?.split(' ') ?? [];
        assert.equal(
          points.length,
          3,
          `${name}: one point per tree size (200, 1,000, 2,000 files)`,
        );
      }

      // --report rewrites the doc from saved results: the same doc as the run wrote.
      const again = join(out, 'again');
      await mkdir(again);
      await harness(['--report', join(out, 'results.json'), '--doc-dir', again]);
      assert.equal(await readFile(join(again, 'benchmarks.md'), 'utf8'), doc);

      // Merging a run with itself adds its samples but no second profile of a scenario.
      const twice = join(out, 'twice');
      await mkdir(twice);
      const saved = join(out, 'results.json');
      await harness(['--report', `${saved},${saved}`, '--doc-dir', twice]);
      const merged = await readFile(join(twice, 'benchmarks.md'), 'utf8');
      for (const profile of results.profiles) {
        const heading = `**${profile.scenario}, ${profile.process}**`;
        assert.equal(merged.split(heading).length - 1, 1, heading);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);
