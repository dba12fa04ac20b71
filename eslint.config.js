// Lint rules. The architecture's boundaries (which folder may import which, no import
// cycles) are not here: dependency-cruiser checks them on resolved paths, for every folder
// (.dependency-cruiser.mjs, `npm run check:deps`).
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
);
