import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSelector } from './selector.ts';

describe('validateSelector', () => {
  it('accepts what kubectl accepts', () => {
    for (const good of [
      'app=demo',
      'app==demo,tier!=db',
      'app.kubernetes.io/name=web',
      'env in (dev, test),!legacy',
      'track notin (canary)',
      'app',
      'app=',
    ]) {
      assert.equal(validateSelector(good), undefined, good);
    }
  });

  it('rejects bad syntax with the offending part', () => {
    assert.match(validateSelector('app=demo,=x') ?? '', /at "=x"/);
    assert.match(validateSelector('app=de mo') ?? '', /not valid/);
    assert.match(validateSelector('a in (b') ?? '', /not valid/);
    assert.match(validateSelector(' ') ?? '', /empty/);
  });
});
