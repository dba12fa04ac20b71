// Lint rules, including the architecture's boundaries: subgraphs never import each
// other, stream processors never import subgraphs or the gateway; everything may
// import schema/.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.cache/',
      '.services/',
      '.tickcast/',
      'dist/',
      'subgraphs/*/generated/',
      'test/generated/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The dashboard's page runs in the browser, as plain ES modules.
    files: ['gateway/dashboard/public/**/*.js'],
    languageOptions: { sourceType: 'module', globals: globals.browser },
  },
  {
    files: ['streams/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/subgraphs/**', '**/gateway/**'],
              message: 'stream processors must not import subgraphs or the gateway',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['subgraphs/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*/**', '!../../**', '!../generated/**', '../../subgraphs/**'],
              message: 'subgraphs never import each other: share through schema/ or subgraphs/*.ts',
            },
            { group: ['**/gateway/**'], message: 'subgraphs do not import the gateway' },
          ],
        },
      ],
    },
  },
  {
    files: ['schema/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/streams/**', '**/subgraphs/**', '**/gateway/**', '**/lib/**'],
              message: 'schema/ is the contract: it imports nothing of the implementation',
            },
          ],
        },
      ],
    },
  },
);
