import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveName, parseReload, validateAgentUrl, validateSpec, type SpecInput } from './spec.ts';

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
