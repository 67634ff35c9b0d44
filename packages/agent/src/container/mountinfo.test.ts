import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseMountPoints, relativeMounts } from './mountinfo.ts';

/** A containerd container with an emptyDir at /app/data, a tmpfs inside it, and a hostPath. */
const fixture = readFileSync(
  new URL('fixtures/containerd-volumes.mountinfo', import.meta.url),
  'utf8',
);

describe('mountinfo', () => {
  it('reads every mount point, undoing octal escapes', () => {
    const points = parseMountPoints(fixture);
    assert.equal(points.length, 17);
    assert.equal(points[0], '/');
    assert.ok(points.includes('/app/host share'));
    assert.deepEqual(parseMountPoints('1 0 0:1 / /a\\134b\\011c\\012d rw - tmpfs t rw\n'), [
      '/a\\b\tc\nd',
    ]);
  });

  it('reports the mounts inside the served root, relative to it, without the root filesystem', () => {
    const points = parseMountPoints(fixture);
    assert.deepEqual(relativeMounts(points, '/app'), ['data', 'data/cache', 'host share']);
    // A sibling whose name starts the same is not inside.
    assert.deepEqual(relativeMounts(points, '/app/src'), []);
    assert.deepEqual(relativeMounts(points, '/etc/'), ['hostname', 'hosts', 'resolv.conf']);
  });

  it('reports a root that lies on a volume as covered whole', () => {
    const points = parseMountPoints(fixture);
    assert.deepEqual(relativeMounts(points, '/app/data/sub'), ['']);
    assert.deepEqual(relativeMounts(points, '/app/data'), ['', 'cache']);
  });

  it('leaves out a mount point that is no sync path (not NFC)', () => {
    assert.deepEqual(relativeMounts(['/', '/app/cafe\u0301', '/app/ok'], '/app'), ['ok']);
  });
});
