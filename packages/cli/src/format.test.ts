import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeEntry,
  formatAgo,
  formatBytes,
  renderSyncTable,
  renderTable,
  resolveCommand,
  shellQuote,
} from './format.ts';
import type { SyncView } from './view.ts';

describe('formatBytes', () => {
  it('uses decimal units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1500), '1.5 kB');
    assert.equal(formatBytes(123_456_789), '123 MB');
  });
});

describe('formatAgo', () => {
  it('is relative to now', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    assert.equal(formatAgo(undefined, now), 'never');
    assert.equal(formatAgo('2026-01-01T00:00:00Z', now), '1m ago');
    assert.equal(formatAgo('2026-01-01T00:01:00Z', now), 'just now');
  });
});

describe('renderTable', () => {
  it('aligns columns and trims trailing space', () => {
    assert.equal(
      renderTable(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['', ''],
        ],
      ),
      'A     BB\nxxx   y\n\n',
    );
  });
});

describe('renderSyncTable', () => {
  const view: SyncView = {
    name: 'web',
    mode: 'two-way',
    local: '/src/web',
    remote: '/app',
    url: 'ws://127.0.0.1:7475',
    paused: false,
    state: 'watching',
    description: 'in sync, watching for changes',
    lastSync: '2026-01-01T00:00:00Z',
    files: 3,
    directories: 1,
    bytes: 2048,
    conflicts: 0,
    problems: [],
    transferredFiles: 3,
    transferredBytes: 2048,
    reconnects: 0,
  };
  const now = Date.parse('2026-01-01T00:00:05Z');

  it('shows the state, counts and last sync', () => {
    const text = renderSyncTable([view], { wide: false, now });
    assert.match(text, /^NAME\s+STATE\s+LOCAL/);
    assert.match(text, /web\s+watching\s+\/src\/web\s+\/app\s+5s ago\s+3\s+2\.0 kB\s+0\s+0\n$/);
  });

  it('wide adds the agent and the detail', () => {
    const text = renderSyncTable([{ ...view, state: 'error', error: 'agent unreachable' }], {
      wide: true,
      now,
    });
    assert.match(
      text,
      /ws:\/\/127\.0\.0\.1:7475\s+3 files, 2\.0 kB\s+0\s+agent unreachable\s+-\n$/,
    );
  });

  it('wide shows reconnects and the latest error after the sync recovered', () => {
    const text = renderSyncTable(
      [{ ...view, reconnects: 2, lastError: 'lost the agent (closed (1006)); reconnecting' }],
      { wide: true, now },
    );
    assert.match(text, /RECONNECTS\s+DETAIL\s+LAST ERROR\n/);
    assert.match(
      text,
      /3 files, 2\.0 kB\s+2\s+in sync, watching for changes\s+lost the agent \(closed \(1006\)\); reconnecting\n$/,
    );
  });

  it('wide shows a running transfer as bytes done of the total', () => {
    const transfer = { files: 10, bytes: 400_000_000, doneFiles: 3, doneBytes: 120_000_000 };
    const text = renderSyncTable([{ ...view, state: 'transferring', transfer }], {
      wide: true,
      now,
    });
    assert.match(text, /transferring 120 MB of 400 MB \(3 of 10 files\)\s+-\n$/);
  });
});

describe('escapeControls and shellQuote', () => {
  it('keeps one table row on one line whatever a name holds', () => {
    const text = renderTable(['PATH'], [['a\nb\tc\u001b']]);
    assert.equal(text, 'PATH\na\\nb\\tc\\x1b\n');
  });

  it('quotes suggested paths only when a shell needs it', () => {
    assert.equal(shellQuote('src/app.ts'), 'src/app.ts');
    assert.equal(shellQuote('my file.txt'), "'my file.txt'");
    assert.equal(shellQuote("it's"), "'it'\\''s'");
    assert.equal(resolveCommand('web', 'a b'), "ksync resolve web 'a b' --keep local|remote");
    assert.equal(resolveCommand('web', ''), 'ksync resolve web / --keep local|remote');
    assert.equal(shellQuote("a\nb'c"), "$'a\\nb\\'c'");
  });
});

describe('describeEntry', () => {
  it('describes each kind', () => {
    assert.equal(describeEntry(undefined), 'deleted');
    assert.equal(describeEntry({ kind: 'directory' }), 'directory');
    assert.equal(
      describeEntry({ kind: 'file', digest: 'x', size: 10, executable: true }),
      'file, 10 B, executable',
    );
  });
});
