/**
 * The registry names tickcast uses: one registered model per pair and horizon, the ONNX
 * file inside a version's run, and the metrics the predictor reads back. They live in
 * registry/ because training/ writes them and the predictor (streams/) and cli/ read them.
 */
export const CHAMPION_ALIAS = 'champion';
export const CHALLENGER_ALIAS = 'challenger';

/** The run artifact holding a version's ONNX graph. */
export const ONNX_ARTIFACT = 'model/model.onnx';
/** The model's input names, in order (JSON array): what the predictor must build for it. */
export const FEATURES_ARTIFACT = 'model/features.json';

/** Half-width of the 90% split-conformal interval, in log-return space, logged with each run. */
export const INTERVAL_METRIC = 'interval_halfwidth_90';

/** e.g. ("BTC/USD", 5) -> "tickcast-btc-usd-5m" */
export function modelName(pair: string, horizonMinutes: number): string {
  return `tickcast-${pair.replace('/', '-').toLowerCase()}-${horizonMinutes}m`;
}
