// Type-aware lint for every package: floating and misused promises are errors (house style 11),
// and console is allowed only in the output modules and scripts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.cluster/**', 'bench/out/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Explicit projects rather than the project service: core's own tsconfig excludes its
        // tests (they need Node's types, the core must not see them), and test/tsconfig.json
        // picks them up.
        project: [
          'packages/core/tsconfig.json',
          'packages/fs/tsconfig.json',
          'packages/agent/tsconfig.json',
          'packages/kube/tsconfig.json',
          'packages/cli/tsconfig.json',
          'test/tsconfig.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // Async methods that implement a Promise-returning interface without awaiting are fine.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**', 'scripts/**', 'deploy/**'],
    rules: { 'no-console': 'off' },
  },
);
