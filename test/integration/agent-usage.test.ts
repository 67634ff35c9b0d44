/**
 * `ksync-agent` on the command line: --help prints usage (no log line, no stack), and bad usage
 * or setup is one plain line on stderr with exit 1, as the CLI does (docs/cli.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AGENT_BIN,
  startAgentFixture,
  type AgentFixture,
  type AgentProcess,
} from './helpers/agent-process.ts';
import { runProgram } from './helpers/cli-process.ts';

const runAgent = (args: string[]) =>
  runProgram(AGENT_BIN, args, { cwd: process.cwd(), env: {}, timeoutMs: 30_000 });

describe('ksync-agent usage', () => {
  let fixture: AgentFixture;
  let agent: AgentProcess;

  before(async () => ({ fixture, agent } = await startAgentFixture()));
  after(() => fixture.cleanup());

  it('--help prints the usage and exits 0', async () => {
    const r = await runAgent(['--help']);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^usage: ksync-agent \[--listen HOST:PORT\] \(--root DIR \| --containers/,
    );
    assert.match(r.stdout, /--staging-dir DIR/);
    assert.equal(r.stderr, '');
  });

  it('bad usage and setup: one line, exit 1, no stack', async () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /^error: Unknown option '--bogus'; usage: ksync-agent /],
      [
        ['--root', fixture.root],
        /^error: --token-file and one of --root or --containers are required; usage: /,
      ],
      [
        ['--containers', '--root', fixture.root, '--token-file', fixture.tokenFile],
        /^error: --token-file and one of --root or --containers are required; usage: /,
      ],
      [
        ['--containers', '--token-file', fixture.tokenFile],
        /^error: --containers needs the node name: set KSYNC_NODE_NAME/,
      ],
      [
        ['--root', `${fixture.root}/missing`, '--token-file', fixture.tokenFile],
        /^error: cannot use --root .*missing/,
      ],
      [
        ['--root', fixture.root, '--token-file', fixture.tokenFile, '--log-level', 'loud'],
        /^error: --log-level loud: use debug, info, warn or error$/,
      ],
      [
        ['--root', fixture.root, '--token-file', `${fixture.dir}/nope`],
        /^error: cannot read --token-file .*\/nope: ENOENT/,
      ],
      [
        [
          '--listen',
          `127.0.0.1:${agent.port}`,
          '--root',
          fixture.root,
          '--token-file',
          fixture.tokenFile,
        ],
        new RegExp(
          `^error: cannot listen on 127\\.0\\.0\\.1:${agent.port} \\(EADDRINUSE\\); pick another --listen$`,
        ),
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await runAgent(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0] ?? '', pattern);
      assert.equal(r.stdout, '');
    }
  });
});
