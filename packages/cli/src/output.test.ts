import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Output, parseOutputFormat, wantsColor } from './output.ts';

function capture(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  (stream as { isTTY: boolean }).isTTY = tty;
  return { stream, text: () => chunks.join('') };
}

describe('wantsColor', () => {
  it('honours NO_COLOR, FORCE_COLOR, TERM and the TTY', () => {
    assert.equal(wantsColor({ isTTY: true }, {}), true);
    assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '1' }), false);
    assert.equal(wantsColor({ isTTY: false }, {}), false);
    assert.equal(wantsColor({ isTTY: false }, { FORCE_COLOR: '1' }), true);
    assert.equal(wantsColor({ isTTY: true }, { TERM: 'dumb' }), false);
  });
});

describe('Output', () => {
  it('prints JSON, YAML or the human text', () => {
    const out = capture(false);
    const err = capture(false);
    const output = new Output({ stdout: out.stream, stderr: err.stream, env: {} });
    output.result({ a: 1 }, 'json', () => 'human\n');
    output.result({ a: 1 }, 'yaml', () => 'human\n');
    output.result({ a: 1 }, 'table', () => 'human\n');
    assert.equal(out.text(), '{\n  "a": 1\n}\na: 1\nhuman\n');
    assert.equal(err.text(), '');
  });

  it('writes errors to stderr without colour when NO_COLOR is set', () => {
    const out = capture(true);
    const err = capture(true);
    const output = new Output({ stdout: out.stream, stderr: err.stream, env: { NO_COLOR: '1' } });
    output.error('boom');
    assert.equal(err.text(), 'error: boom\n');
    const coloured = capture(true);
    new Output({ stdout: out.stream, stderr: coloured.stream, env: {} }).error('boom');
    assert.ok(coloured.text().startsWith('\u001b[31merror:'));
  });

  it('logs progress as plain lines without a terminal', async () => {
    const err = capture(false);
    const output = new Output({ stdout: capture(false).stream, stderr: err.stream, env: {} });
    const progress = await output.progress('syncing');
    progress.update('syncing 1 file'); // throttled: within a second of the first line
    progress.succeed('done');
    const lines = err.text().trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /Z syncing$/);
    assert.match(lines[1] ?? '', /Z done$/);
  });
});

describe('parseOutputFormat', () => {
  it('rejects unknown formats with the valid ones', () => {
    assert.equal(parseOutputFormat('json'), 'json');
    assert.throws(() => parseOutputFormat('xml'), /use one of: table, wide, json, yaml/);
  });
});
