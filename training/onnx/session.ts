/**
 * Loads a tickcast ONNX model (training/onnx/export.ts) into onnxruntime-node and runs
 * batches of raw feature vectors through it.
 */
import ort from 'onnxruntime-node';
import { INPUT_NAME, OUTPUT_NAME, readOnnxMetadata, type OnnxModelMeta } from './export.ts';

export type FeatureRows = Float32Array | Float64Array | readonly (readonly number[])[];

export interface OnnxModel {
  readonly featureNames: readonly string[];
  readonly meta: OnnxModelMeta;
  /**
   * Predicted log returns, one per row, for `n` rows (default: all) of raw features:
   * row-major [n × F] typed array or n arrays of F numbers. Values are converted to the
   * model's input type (`meta.inputType`); a typed array of that type is used without a copy.
   */
  predict(rows: FeatureRows, n?: number): Promise<Float32Array>;
  /** Releases the native session; predict rejects afterwards. */
  close(): Promise<void>;
}

export interface LoadOptions {
  /** Rows per session.run; larger inputs are split into batches of this size. */
  readonly maxBatchRows?: number;
  /** onnxruntime intra-op threads (default 1: predictable next to the stream processors). */
  readonly intraOpNumThreads?: number;
}

export async function loadOnnxModel(bytes: Uint8Array, options: LoadOptions = {}): Promise<OnnxModel> {
  const meta = readOnnxMetadata(bytes);
  const maxBatchRows = options.maxBatchRows ?? 65_536;
  if (!(Number.isInteger(maxBatchRows) && maxBatchRows > 0)) throw new Error('maxBatchRows must be a positive integer');
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
  });
  const f = meta.featureNames.length;
  const float64 = meta.inputType === 'float64';
  let closed = false;

  async function run(data: Float32Array | Float64Array, rows: number): Promise<Float32Array> {
    const input =
      data instanceof Float64Array
        ? new ort.Tensor('float64', data, [rows, f])
        : new ort.Tensor('float32', data, [rows, f]);
    const outputs = await session.run({ [INPUT_NAME]: input });
    const output = outputs[OUTPUT_NAME]?.data;
    if (!(output instanceof Float32Array) || output.length !== rows) {
      throw new Error(`model output ${OUTPUT_NAME} is missing or not float [${rows}, 1]`);
    }
    return output;
  }

  return {
    featureNames: meta.featureNames,
    meta,
    async predict(rows, n) {
      if (closed) throw new Error('the ONNX model is closed');
      const data = toInput(rows, f, n, float64);
      const count = n ?? data.length / f;
      if (!Number.isInteger(count) || count < 0 || count * f > data.length) {
        throw new Error(`cannot read ${String(n ?? count)} rows of ${f} features from ${data.length} values`);
      }
      if (count === 0) return new Float32Array(0);
      if (count <= maxBatchRows) return run(count * f === data.length ? data : data.subarray(0, count * f), count);
      const result = new Float32Array(count);
      for (let start = 0; start < count; start += maxBatchRows) {
        const size = Math.min(maxBatchRows, count - start);
        result.set(await run(data.subarray(start * f, (start + size) * f), size), start);
      }
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}

function toInput(rows: FeatureRows, f: number, n: number | undefined, float64: boolean): Float32Array | Float64Array {
  if (rows instanceof Float32Array || rows instanceof Float64Array) {
    if (rows instanceof Float64Array === float64) return rows;
    const values = n === undefined ? rows : rows.subarray(0, n * f);
    return float64 ? Float64Array.from(values) : Float32Array.from(values);
  }
  const count = n ?? rows.length;
  if (count > rows.length) throw new Error(`asked for ${count} rows, got ${rows.length}`);
  const data = float64 ? new Float64Array(count * f) : new Float32Array(count * f);
  for (let r = 0; r < count; r++) {
    const row = rows[r] ?? [];
    if (row.length !== f) throw new Error(`row ${r} has ${row.length} features, the model takes ${f}`);
    data.set(row, r * f);
  }
  return data;
}
