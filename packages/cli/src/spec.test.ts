import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRoots,
  deriveName,
  parseReload,
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

describe('validateSpec, Kubernetes targets', () => {
  const base: SpecInput = {
    name: 'web',
    local: '/home/me/web',
    remote: '/app',
    mode: 'two-way',
    ignore: [],
  };
  const kube: SpecInput = { ...base, selector: 'app=demo' };

  it('accepts a selector, a pod, a container and each reload hook', () => {
    const byPod: SpecInput = { ...base, pod: 'web-0', container: 'app' };
    assert.deepEqual(validateSpec(kube), []);
    assert.deepEqual(validateSpec(byPod), []);
    for (const reload of ['exec:nginx -s reload', 'signal:HUP', 'signal:SIGUSR1', 'restart'])
      assert.deepEqual(validateSpec({ ...kube, reload }), [], reload);
  });

  it('collects target problems with the others', () => {
    const problems = validateSpec({
      ...kube,
      remote: 'app',
      selector: 'app=de mo',
      container: 'Bad_Name',
      reload: 'bounce',
    });
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /selector "app=de mo" is not valid/);
    assert.match(problems.join('\n'), /--reload "bounce" is not a hook/);
  });

  it('wants exactly one way to reach the remote side', () => {
    assert.match(validateSpec(base).join(), /say where to sync: --selector/);
    assert.match(
      validateSpec({ ...kube, url: 'ws://h:1', tokenFile: '/t' }).join(),
      /either --direct or --selector/,
    );
  });
});

describe('parseReload', () => {
  it('reads the three hooks', () => {
    assert.deepEqual(parseReload('exec:kill -HUP 1'), { kind: 'exec', command: 'kill -HUP 1' });
    assert.deepEqual(parseReload('signal:sigterm'), { kind: 'signal', signal: 'TERM' });
    assert.deepEqual(parseReload('restart'), { kind: 'restart' });
    assert.equal(typeof parseReload('exec:'), 'string');
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
