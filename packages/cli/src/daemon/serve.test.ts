import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncView, TargetView } from '../view.ts';
import { summarize } from './serve.ts';

const base: SyncView = {
  name: 'web',
  mode: 'two-way',
  local: '/src',
  remote: '/app',
  url: 'pods matching app=web in namespace default',
  paused: false,
  state: 'transferring',
  description: 'transferring',
  files: 0,
  directories: 0,
  bytes: 0,
  conflicts: 0,
  problems: [],
  transferredFiles: 0,
  transferredBytes: 0,
  reconnects: 0,
};

const target = (pod: string, extra: Partial<TargetView>): TargetView => ({
  pod,
  container: 'app',
  node: 'n1',
  state: 'watching',
  files: 0,
  bytes: 0,
  conflicts: 0,
  problems: 0,
  reconnects: 0,
  ...extra,
});

describe('summarize', () => {
  it('shows each container of a Kubernetes sync with its own files and bytes', () => {
    const line = summarize([
      {
        ...base,
        targets: [
          target('web-1', {
            state: 'transferring',
            transfer: { files: 300, bytes: 300_000_000, doneFiles: 12, doneBytes: 12_000_000 },
          }),
          target('web-2', { files: 300, bytes: 300_000_000 }),
          target('web-3', {
            state: 'connecting',
            error: 'no ksync agent on node n2; run ksync init',
          }),
        ],
      },
    ]);
    assert.equal(
      line,
      'web: web-1/app transferring 12.0 MB of 300 MB (12 of 300 files), web-2/app in sync (300 files, 300 MB), web-3/app connecting (no ksync agent on node n2; run ksync init)',
    );
  });

  it('keeps the one-line form of a direct sync and a spec without containers', () => {
    assert.equal(
      summarize([
        { ...base, name: 'd', state: 'watching', files: 2, bytes: 2000 },
        { ...base, state: 'waiting', error: 'waiting for pods', targets: [] },
      ]),
      'd: in sync (2 files, 2.0 kB) | web: waiting (waiting for pods)',
    );
  });
});
