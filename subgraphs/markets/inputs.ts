/** Candle cursors of the markets subgraph; the shared argument checks are in ../inputs.ts. */
import { Buffer } from 'node:buffer';
import { badUserInput } from '../inputs.ts';

/** Candle cursors are opaque to clients: base64 of the candle's open time in epoch ms. */
export const encodeCursor = (openTime: number): string => Buffer.from(String(openTime), 'utf8').toString('base64');

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!/^\d{1,15}$/.test(text) || encodeCursor(Number(text)) !== cursor) {
    throw badUserInput(`after is not a cursor this API returned: ${JSON.stringify(cursor)}`);
  }
  return Number(text);
}
