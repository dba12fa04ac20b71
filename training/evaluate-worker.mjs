// Worker threads do not inherit the parent's TypeScript loader (tsx registers per thread):
// register it here, then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./evaluate-worker.ts');
