/**
 * Exports the trained models (training/model-types.ts) to ONNX, built in memory with
 * `onnx-proto`, with the standardization inside the graph so raw feature vectors go in.
 *
 * Every graph has one input `features`: [N, F] raw features in `featureNames` order (float
 * by default, double with `inputType: 'float64'`) and one output `log_return`: float [N, 1].
 *
 * - persistence: Shape → Slice → Concat → ConstantOfShape(0): zeros [N, 1] whatever the
 *   input values (a MatMul with zero weights would turn a NaN or ±Infinity input into NaN).
 * - linear: [Cast to double] → Sub(mean) → Div(scale) → MatMul(weights [F, 1]) →
 *   Add(intercept) → Cast to float.
 * - trees: [Cast to double] → Sub(mean) → Div(scale) → ai.onnx.ml TreeEnsembleRegressor
 *   (ai.onnx.ml opset 3; float output): SUM of target weights (learningRate · leaf) plus
 *   base_values [baseScore], post_transform NONE. A split is mode BRANCH_LT, for which
 *   onnxruntime takes the TRUE branch when z < threshold: true = `left`, false = `right`,
 *   exactly the model's "z[f] < threshold → left" (a NaN compares false and goes right in
 *   both). Tested at, just below and just above a threshold.
 *
 * Precision: the graph computes in float64 even for float input. Sub and Div are IEEE
 * operations, so the standardized values are bit-identical to training/predict.ts's, and
 * thresholds, leaf weights and the base score are double tensors (`nodes_values_as_tensor`,
 * `target_weights_as_tensor`, `base_values_as_tensor`, new in ai.onnx.ml opset 3): every
 * split decision equals the reference's on the values the graph receives. The one loss left
 * with float input is the caller's rounding of float64 features to float32 (~6e-8
 * relative), which moves a row across a split only when its value lies within that of the
 * split point; double input removes it.
 *
 * `compute: 'float32'` builds the same graphs in float32 (float32 Sub/Div, thresholds and
 * weights rounded to the nearest float32 in the float-list attributes). It exists to
 * measure what that costs (real-data.test.ts): a value within float32 rounding of a
 * threshold goes the other way. On the real BTC/USD rows with 100 depth-5 trees that is
 * ~1.5% of rows off by up to 6.9e-4 when thresholds sit on feature values, and 10 of
 * 49,175 rows with thresholds halfway between values. Don't ship it.
 */
import onnxProto from 'onnx-proto';
import type { onnx as proto } from 'onnx-proto';
import type { LinearModel, PersistenceModel, TrainedModel, TreeEnsembleModel } from '../model-types.ts';

const { onnx } = onnxProto;
type INodeProto = proto.INodeProto;
type ITensorProto = proto.ITensorProto;
type IAttributeProto = proto.IAttributeProto;

/** Bump when the graph's contract (input, output, metadata keys) changes. */
export const ONNX_FORMAT_VERSION = 1;
export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'log_return';
/** Default-domain opset the graphs are built against; `ai.onnx.ml` opset for the trees (3: double `*_as_tensor` attributes). */
export const ONNX_OPSET = 13;
export const ONNX_ML_OPSET = 3;

/** Keys of the model's `metadata_props`. */
export const METADATA_KEYS = {
  formatVersion: 'tickcast.format_version',
  kind: 'tickcast.model_kind',
  featureNames: 'tickcast.feature_names',
  inputType: 'tickcast.input_type',
  computeType: 'tickcast.compute_type',
  horizonMinutes: 'tickcast.horizon_minutes',
  pair: 'tickcast.pair',
} as const;

export type OnnxFloatType = 'float32' | 'float64';

export interface OnnxExportMeta {
  /** The horizon the model predicts the log return over. */
  readonly horizonMinutes?: number;
  /** Kraken v2 symbol, e.g. BTC/USD. */
  readonly pair?: string;
}

export interface OnnxExportOptions {
  /** Element type of the `features` input; float32 by default. */
  readonly inputType?: OnnxFloatType;
  /** Arithmetic inside the graph; float64 by default. See the module comment before changing it. */
  readonly compute?: OnnxFloatType;
}

export interface OnnxModelMeta extends OnnxExportMeta {
  readonly formatVersion: number;
  readonly kind: TrainedModel['kind'];
  readonly featureNames: readonly string[];
  readonly inputType: OnnxFloatType;
  readonly computeType: OnnxFloatType;
}

/** Serialized ONNX ModelProto for the model; throws on an inconsistent model. */
export function toOnnx(model: TrainedModel, meta: OnnxExportMeta = {}, options: OnnxExportOptions = {}): Uint8Array {
  validateModel(model);
  const inputType = floatType(options.inputType ?? 'float32');
  const compute = floatType(options.compute ?? 'float64');
  if (meta.horizonMinutes !== undefined && !(Number.isInteger(meta.horizonMinutes) && meta.horizonMinutes > 0)) {
    throw new Error(`horizonMinutes must be a positive integer, got ${meta.horizonMinutes}`);
  }
  const f = model.featureNames.length;
  const body =
    model.kind === 'persistence'
      ? persistenceGraph(model)
      : model.kind === 'linear'
        ? linearGraph(model, inputType, compute)
        : treesGraph(model, inputType, compute);
  const graph = onnx.GraphProto.create({
    name: `tickcast_${model.kind}`,
    node: body.nodes,
    initializer: body.initializers,
    input: [valueInfo(INPUT_NAME, inputType, [{ dimParam: 'N' }, { dimValue: f }])],
    output: [valueInfo(OUTPUT_NAME, 'float32', [{ dimParam: 'N' }, { dimValue: 1 }])],
  });
  const metadata: Record<string, string> = {
    [METADATA_KEYS.formatVersion]: String(ONNX_FORMAT_VERSION),
    [METADATA_KEYS.kind]: model.kind,
    [METADATA_KEYS.featureNames]: JSON.stringify(model.featureNames),
    [METADATA_KEYS.inputType]: inputType,
    [METADATA_KEYS.computeType]: compute,
  };
  if (meta.horizonMinutes !== undefined) metadata[METADATA_KEYS.horizonMinutes] = String(meta.horizonMinutes);
  if (meta.pair !== undefined) metadata[METADATA_KEYS.pair] = meta.pair;
  const opsets = [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })];
  if (model.kind === 'trees') {
    opsets.push(onnx.OperatorSetIdProto.create({ domain: 'ai.onnx.ml', version: ONNX_ML_OPSET }));
  }
  const modelProto = onnx.ModelProto.create({
    irVersion: onnx.Version.IR_VERSION, // 8
    producerName: 'tickcast',
    producerVersion: String(ONNX_FORMAT_VERSION),
    docString: `tickcast ${model.kind} model: raw features [N, ${f}] → log return [N, 1]`,
    opsetImport: opsets,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  return onnx.ModelProto.encode(modelProto).finish();
}

/** The tickcast metadata of an exported model; throws when it is missing or from another format version. */
export function readOnnxMetadata(bytes: Uint8Array): OnnxModelMeta {
  const decoded = onnx.ModelProto.decode(bytes);
  const props = new Map<string, string>();
  for (const p of decoded.metadataProps) if (p.key) props.set(p.key, p.value ?? '');
  const need = (key: string): string => {
    const value = props.get(key);
    if (value === undefined) throw new Error(`not a tickcast ONNX model: metadata ${key} is missing`);
    return value;
  };
  const formatVersion = Number(need(METADATA_KEYS.formatVersion));
  if (formatVersion !== ONNX_FORMAT_VERSION) {
    throw new Error(`tickcast ONNX format version ${formatVersion} is not supported (expected ${ONNX_FORMAT_VERSION})`);
  }
  const kind = need(METADATA_KEYS.kind);
  if (kind !== 'persistence' && kind !== 'linear' && kind !== 'trees') throw new Error(`unknown model kind ${kind}`);
  const names: unknown = JSON.parse(need(METADATA_KEYS.featureNames));
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) {
    throw new Error('metadata feature names is not a JSON array of strings');
  }
  const horizon = props.get(METADATA_KEYS.horizonMinutes);
  const pair = props.get(METADATA_KEYS.pair);
  return {
    formatVersion,
    kind,
    featureNames: names,
    inputType: floatType(need(METADATA_KEYS.inputType)),
    computeType: floatType(need(METADATA_KEYS.computeType)),
    ...(horizon !== undefined ? { horizonMinutes: Number(horizon) } : {}),
    ...(pair !== undefined ? { pair } : {}),
  };
}

function floatType(value: string): OnnxFloatType {
  if (value !== 'float32' && value !== 'float64') throw new Error(`unknown float type ${value}`);
  return value;
}

// ---------------------------------------------------------------------------------------
// Graphs

interface GraphBody {
  nodes: INodeProto[];
  initializers: ITensorProto[];
}

function persistenceGraph(_model: PersistenceModel): GraphBody {
  return {
    initializers: [
      int64Tensor('slice_start', [0], [1]),
      int64Tensor('slice_end', [1], [1]),
      int64Tensor('one', [1], [1]),
    ],
    nodes: [
      node('Shape', [INPUT_NAME], ['input_shape']),
      node('Slice', ['input_shape', 'slice_start', 'slice_end'], ['rows']),
      node('Concat', ['rows', 'one'], ['output_shape'], [intAttr('axis', 0)]),
      node(
        'ConstantOfShape',
        ['output_shape'],
        [OUTPUT_NAME],
        [tensorAttr('value', tensor('zero', 'float32', [0], [1]))],
      ),
    ],
  };
}

/** [Cast input to the compute type] → Sub(mean) → Div(scale) → `standardized`. */
function standardize(
  model: LinearModel | TreeEnsembleModel,
  inputType: OnnxFloatType,
  compute: OnnxFloatType,
): GraphBody {
  const f = model.featureNames.length;
  const nodes: INodeProto[] = [];
  let input = INPUT_NAME;
  if (inputType !== compute) {
    nodes.push(node('Cast', [INPUT_NAME], ['features_cast'], [intAttr('to', elemType(compute))]));
    input = 'features_cast';
  }
  nodes.push(node('Sub', [input, 'mean'], ['centered']), node('Div', ['centered', 'scale'], ['standardized']));
  return {
    initializers: [
      tensor('mean', compute, model.standardizer.mean, [f]),
      tensor('scale', compute, model.standardizer.scale, [f]),
    ],
    nodes,
  };
}

function linearGraph(model: LinearModel, inputType: OnnxFloatType, compute: OnnxFloatType): GraphBody {
  const std = standardize(model, inputType, compute);
  const nodes = [...std.nodes, node('MatMul', ['standardized', 'weights'], ['linear'])];
  if (compute === 'float32') nodes.push(node('Add', ['linear', 'intercept'], [OUTPUT_NAME]));
  else {
    nodes.push(node('Add', ['linear', 'intercept'], ['prediction']));
    nodes.push(node('Cast', ['prediction'], [OUTPUT_NAME], [intAttr('to', onnx.TensorProto.DataType.FLOAT)]));
  }
  return {
    initializers: [
      ...std.initializers,
      tensor('weights', compute, model.weights, [model.weights.length, 1]),
      tensor('intercept', compute, [model.intercept], [1]),
    ],
    nodes,
  };
}

function treesGraph(model: TreeEnsembleModel, inputType: OnnxFloatType, compute: OnnxFloatType): GraphBody {
  const std = standardize(model, inputType, compute);
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const values: number[] = [];
  const modes: string[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const targetTreeIds: number[] = [];
  const targetNodeIds: number[] = [];
  const targetWeights: number[] = [];
  model.trees.forEach((tree, t) => {
    tree.nodes.forEach((n, id) => {
      treeIds.push(t);
      nodeIds.push(id);
      if (n.kind === 'split') {
        modes.push('BRANCH_LT');
        featureIds.push(n.feature);
        values.push(n.threshold);
        trueIds.push(n.left); // BRANCH_LT: z < threshold → true branch
        falseIds.push(n.right);
      } else {
        modes.push('LEAF');
        featureIds.push(0);
        values.push(0);
        trueIds.push(0);
        falseIds.push(0);
        targetTreeIds.push(t);
        targetNodeIds.push(id);
        targetWeights.push(model.learningRate * n.value);
      }
    });
  });
  // Double attributes are tensors (ai.onnx.ml opset 3); float ones the opset-1 float lists.
  const floats = (name: string, list: number[]): IAttributeProto =>
    compute === 'float64'
      ? tensorAttr(`${name}_as_tensor`, tensor(name, 'float64', list, [list.length]))
      : floatsAttr(name, list);
  const ensemble = node(
    'TreeEnsembleRegressor',
    ['standardized'],
    [OUTPUT_NAME],
    [
      intsAttr('nodes_treeids', treeIds),
      intsAttr('nodes_nodeids', nodeIds),
      intsAttr('nodes_featureids', featureIds),
      floats('nodes_values', values),
      stringsAttr('nodes_modes', modes),
      intsAttr('nodes_truenodeids', trueIds),
      intsAttr('nodes_falsenodeids', falseIds),
      intsAttr('target_treeids', targetTreeIds),
      intsAttr('target_nodeids', targetNodeIds),
      intsAttr('target_ids', new Array<number>(targetWeights.length).fill(0)),
      floats('target_weights', targetWeights),
      floats('base_values', [model.baseScore]),
      intAttr('n_targets', 1),
      stringAttr('aggregate_function', 'SUM'),
      stringAttr('post_transform', 'NONE'),
    ],
    'ai.onnx.ml',
  );
  return { initializers: std.initializers, nodes: [...std.nodes, ensemble] };
}

// ---------------------------------------------------------------------------------------
// Validation

function validateModel(model: TrainedModel): void {
  const f = model.featureNames.length;
  if (f === 0) throw new Error('a model needs at least one feature');
  if (new Set(model.featureNames).size !== f) throw new Error('feature names must be unique');
  if (model.kind === 'persistence') return;
  const { mean, scale } = model.standardizer;
  if (mean.length !== f || scale.length !== f) {
    throw new Error(`standardizer has ${mean.length}/${scale.length} entries for ${f} features`);
  }
  if (!mean.every(Number.isFinite)) throw new Error('standardizer mean must be finite');
  if (!scale.every((s) => Number.isFinite(s) && s > 0)) throw new Error('standardizer scale must be finite and > 0');
  if (model.kind === 'linear') {
    if (model.weights.length !== f) {
      throw new Error(`linear model has ${model.weights.length} weights for ${f} features`);
    }
    if (!model.weights.every(Number.isFinite) || !Number.isFinite(model.intercept)) {
      throw new Error('linear model parameters must be finite');
    }
    return;
  }
  if (!Number.isFinite(model.baseScore) || !Number.isFinite(model.learningRate)) {
    throw new Error('baseScore and learningRate must be finite');
  }
  model.trees.forEach((tree, t) => {
    const n = tree.nodes.length;
    if (n === 0) throw new Error(`tree ${t} has no nodes`);
    // Every node reachable from the root exactly once (a tree, no cycles, no shared children).
    const seen = new Set<number>();
    const stack = [0];
    while (stack.length > 0) {
      const id = stack.pop() ?? 0;
      if (seen.has(id)) throw new Error(`tree ${t}: node ${id} is reached twice`);
      seen.add(id);
      const node = tree.nodes[id];
      if (node === undefined) throw new Error(`tree ${t}: node ${id} does not exist`);
      if (node.kind === 'leaf') {
        if (!Number.isFinite(node.value)) throw new Error(`tree ${t}: leaf ${id} is not finite`);
        continue;
      }
      if (!Number.isInteger(node.feature) || node.feature < 0 || node.feature >= f) {
        throw new Error(`tree ${t}: node ${id} splits on feature ${node.feature} of ${f}`);
      }
      if (Number.isNaN(node.threshold)) throw new Error(`tree ${t}: node ${id} has a NaN threshold`);
      stack.push(node.left, node.right);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Proto helpers

function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: IAttributeProto[] = [],
  domain = '',
): INodeProto {
  return { opType, input, output, attribute, domain, name: `${opType}_${output[0] ?? ''}` };
}

const elemType = (type: OnnxFloatType): number =>
  type === 'float32' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.DOUBLE;

function valueInfo(name: string, type: OnnxFloatType, dims: ({ dimParam: string } | { dimValue: number })[]) {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: elemType(type), shape: { dim: dims } } } });
}

function tensor(name: string, type: OnnxFloatType, values: readonly number[], dims: number[]): ITensorProto {
  const width = type === 'float32' ? 4 : 8;
  const rawData = new Uint8Array(values.length * width);
  const view = new DataView(rawData.buffer);
  // ONNX raw data is little-endian.
  values.forEach((v, i) => (type === 'float32' ? view.setFloat32(i * 4, v, true) : view.setFloat64(i * 8, v, true)));
  return { name, dims, dataType: elemType(type), rawData };
}

function int64Tensor(name: string, values: number[], dims: number[]): ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values };
}

const AttrType = onnx.AttributeProto.AttributeType;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function intAttr(name: string, i: number): IAttributeProto {
  return { name, type: AttrType.INT, i };
}
function intsAttr(name: string, ints: number[]): IAttributeProto {
  return { name, type: AttrType.INTS, ints };
}
function floatsAttr(name: string, values: number[]): IAttributeProto {
  return { name, type: AttrType.FLOATS, floats: values.map((v) => Math.fround(v)) };
}
function stringAttr(name: string, s: string): IAttributeProto {
  return { name, type: AttrType.STRING, s: utf8(s) };
}
function stringsAttr(name: string, strings: string[]): IAttributeProto {
  return { name, type: AttrType.STRINGS, strings: strings.map(utf8) };
}
function tensorAttr(name: string, t: ITensorProto): IAttributeProto {
  return { name, type: AttrType.TENSOR, t };
}
