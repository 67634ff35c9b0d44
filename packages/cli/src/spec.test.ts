import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRoots,
  deriveName,
  validateAgentUrl,
  validateSpec,
  type RootCheckInput,
  type SpecInput,
} from './spec.ts';

const good: SpecInput = {
  name: 'web',
  local: '/home/me/web',
  remote: '/app',
  url: 'ws://127.0.0.1:7475',
  tokenFile: '/home/me/token',
  mode: 'two-way',
  ignore: ['node_modules'],
};

describe('validateSpec', () => {
  it('accepts a good spec', () => {
    assert.deepEqual(validateSpec(good), []);
  });

  it('collects every problem at once', () => {
    const problems = validateSpec({
      name: 'Bad_Name',
      local: 'relative',
      remote: 'app',
      url: 'http://x:1',
      tokenFile: '',
      mode: 'sideways',
      ignore: [' '],
    });
    assert.equal(problems.length, 7, problems.join('\n'));
    assert.match(problems.join('\n'), /unknown sync mode "sideways"; use one of: two-way/);
  });

  it('rejects remote paths with dot components', () => {
    assert.match(validateSpec({ ...good, remote: '/app/../etc' }).join(), /"\.\."/);
  });
});

describe('validateAgentUrl', () => {
  const cases: [string, RegExp | undefined][] = [
    ['ws://127.0.0.1:7475', undefined],
    ['wss://agent.example:443', undefined],
    ['ws://localhost:1/x', /no path/],
    ['http://127.0.0.1:1', /must start with ws:\/\//],
    ['not a url', /is not a URL/],
  ];
  for (const [url, expected] of cases) {
    it(url, () => {
      const problem = validateAgentUrl(url);
      if (expected === undefined) assert.equal(problem, undefined);
      else assert.match(problem ?? '', expected);
    });
  }
});

describe('deriveName', () => {
  it('kebab-cases the base name', () => {
    assert.equal(deriveName('/home/me/My Project_2/'), 'my-project-2');
    assert.equal(deriveName('/'), 'sync');
    assert.equal(deriveName('/x/---'), 'sync');
  });
});

describe('checkRoots', () => {
  const url = 'ws://127.0.0.1:7475';
  const base: RootCheckInput = {
    local: '/home/me/web',
    remote: '/app',
    url,
    others: [{ name: 'api', local: '/home/me/api', remote: '/srv/api', url }],
    ksyncHome: '/home/me/.ksync',
    userHome: '/home/me',
    force: false,
  };

  it('accepts separate roots, and the same remote path on another agent', () => {
    assert.deepEqual(checkRoots(base), []);
    const elsewhere = { name: 'x', local: '/tmp/x', remote: '/app', url: 'ws://10.0.0.2:7475' };
    assert.deepEqual(checkRoots({ ...base, others: [elsewhere] }), []);
    assert.deepEqual(checkRoots({ ...base, local: '/home/me/webx' }), []);
  });

  it('always refuses a local root holding $KSYNC_HOME, even forced', () => {
    for (const force of [false, true]) {
      const problems = checkRoots({ ...base, local: '/home/me', force });
      assert.match(problems[0] ?? '', /contains ksync's own state \(\/home\/me\/\.ksync\)/);
    }
  });

  it('refuses / and the home directory unless forced', () => {
    const home = { ...base, ksyncHome: '/var/ksync' };
    assert.match(checkRoots({ ...home, local: '/' }).join(), /is the whole filesystem/);
    assert.match(checkRoots({ ...home, local: '/home/me' }).join(), /is your home directory/);
    assert.deepEqual(checkRoots({ ...home, local: '/home/me', others: [], force: true }), []);
  });

  it('refuses overlapping roots on the same side unless forced', () => {
    assert.match(
      checkRoots({ ...base, local: '/home/me/api/sub' }).join(),
      /local directory \/home\/me\/api\/sub overlaps sync api \(\/home\/me\/api\)/,
    );
    assert.match(
      checkRoots({ ...base, remote: '/' }).join(),
      /remote path \/ overlaps sync api \(\/srv\/api on the same agent\)/,
    );
    assert.deepEqual(checkRoots({ ...base, remote: '/srv/api', force: true }), []);
  });
});
