/**
 * Query limits, checked on the parsed and validated operation before anything executes:
 *
 * - depth: the longest chain of nested fields (`{ market { pair } }` is 2);
 * - aliases: aliases in the operation with fragments expanded (an alias bomb multiplies work
 *   without multiplying the document's depth);
 * - cost: every object field costs 1, multiplied by the sizes of the lists it sits in. A
 *   list's size is its `first`/`last` argument (literal, variable, or the schema default);
 *   a connection's `first` sizes its `edges`; otherwise `defaultListSize`.
 *
 * Introspection (`__schema`, `__type`) is not counted in depth (the standard introspection
 * query is 13 deep); instead its list fields may nest at most `MAX_INTROSPECTION_LIST_DEPTH`
 * times, which the standard query needs and the `fields { type { fields { type ...` bomb
 * exceeds. It is priced by what it can return: a `__schema` costs the number of types,
 * fields, arguments, enum values and input fields in the schema, a `__type` those of the
 * largest type. So one introspection query fits the budget, and fifty aliased ones do not.
 *
 * Fragments are measured once per (fragment, inherited list size), so a document that
 * reuses fragments exponentially is still measured in linear time. Pure: the request
 * pipeline's operation stages (pipeline.ts) call `checkLimits` for HTTP and graphql-ws alike,
 * with a `MeasureCache` so a document asked again with the same list sizes is not walked again.
 */
import {
  getNamedType,
  getNullableType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { QueryLimitsConfig } from './config.ts';
import { gatewayError } from './errors.ts';

export const MAX_INTROSPECTION_LIST_DEPTH = 3;
/** Documents, and measures, kept per schema by `MeasureCache`: far more than a client app sends. */
const MEASURE_CACHE_ENTRIES = 1_000;
const SIZE_ARGUMENTS = ['first', 'last'];

export interface OperationMeasure {
  readonly depth: number;
  readonly aliases: number;
  readonly cost: number;
  /** Nesting of list fields inside introspection. */
  readonly introspectionListDepth: number;
}

const ZERO: OperationMeasure = { depth: 0, aliases: 0, cost: 0, introspectionListDepth: 0 };

const siblings = (a: OperationMeasure, b: OperationMeasure): OperationMeasure => ({
  depth: Math.max(a.depth, b.depth),
  aliases: a.aliases + b.aliases,
  cost: a.cost + b.cost,
  introspectionListDepth: Math.max(a.introspectionListDepth, b.introspectionListDepth),
});

function asComposite(type: GraphQLNamedType | undefined | null): GraphQLCompositeType | undefined {
  return type && isCompositeType(type) ? type : undefined;
}

class Walker {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly memo = new Map<string, OperationMeasure>();
  private readonly variables: Record<string, unknown>;
  /** The variables the measure read (list sizes): the only inputs besides the document and schema. */
  readonly sizeVariables = new Set<string>();

  constructor(
    private readonly schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Readonly<Record<string, unknown>> | undefined,
    private readonly defaultListSize: number,
  ) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
    const defaults = Object.fromEntries(
      (operation.variableDefinitions ?? []).flatMap((d) =>
        d.defaultValue ? [[d.variable.name.value, valueFromASTUntyped(d.defaultValue)]] : [],
      ),
    );
    this.variables = { ...defaults, ...variables };
  }

  selectionSet(
    set: SelectionSetNode,
    parent: GraphQLCompositeType | undefined,
    inheritedSize: number | undefined,
    introspection: boolean,
  ): OperationMeasure {
    let measure = ZERO;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        measure = siblings(measure, this.field(selection, parent, inheritedSize, introspection));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition
          ? asComposite(this.schema.getType(selection.typeCondition.name.value))
          : parent;
        measure = siblings(measure, this.selectionSet(selection.selectionSet, type, inheritedSize, introspection));
      } else {
        measure = siblings(measure, this.spread(selection.name.value, inheritedSize, introspection));
      }
    }
    return measure;
  }

  private spread(name: string, inheritedSize: number | undefined, introspection: boolean): OperationMeasure {
    const key = `${name}\u0000${inheritedSize ?? ''}\u0000${introspection}`;
    const known = this.memo.get(key);
    if (known) return known;
    const fragment = this.fragments.get(name);
    if (!fragment) return ZERO;
    this.memo.set(key, ZERO); // a cycle (rejected by validation anyway) ends here
    const measure = this.selectionSet(
      fragment.selectionSet,
      asComposite(this.schema.getType(fragment.typeCondition.name.value)),
      inheritedSize,
      introspection,
    );
    this.memo.set(key, measure);
    return measure;
  }

  private field(
    node: FieldNode,
    parent: GraphQLCompositeType | undefined,
    inheritedSize: number | undefined,
    introspection: boolean,
  ): OperationMeasure {
    const aliases = node.alias ? 1 : 0;
    const name = node.name.value;
    const inIntrospection = introspection || name === '__schema' || name === '__type';
    const definition = this.definition(parent, name);
    if (!definition) return { ...ZERO, depth: inIntrospection ? 0 : 1, aliases };
    const isList = isListType(getNullableType(definition.type));
    const named = getNamedType(definition.type);
    const composite = isCompositeType(named);
    const size = this.size(node, definition);
    const children = node.selectionSet
      ? this.selectionSet(node.selectionSet, asComposite(named), isList ? undefined : size, inIntrospection)
      : ZERO;
    if (inIntrospection) {
      return {
        depth: 0,
        aliases: aliases + children.aliases,
        cost: introspection ? 0 : introspectionCost(this.schema, name),
        introspectionListDepth: children.introspectionListDepth + (isList && composite ? 1 : 0),
      };
    }
    const multiplier = isList ? (size ?? inheritedSize ?? this.defaultListSize) : 1;
    return {
      depth: 1 + children.depth,
      aliases: aliases + children.aliases,
      cost: composite ? multiplier * (1 + children.cost) : 0,
      introspectionListDepth: children.introspectionListDepth,
    };
  }

  private definition(
    parent: GraphQLCompositeType | undefined,
    name: string,
  ): GraphQLField<unknown, unknown> | undefined {
    if (name === TypeNameMetaFieldDef.name) return TypeNameMetaFieldDef;
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
    if (parent && (isObjectType(parent) || isInterfaceType(parent))) return parent.getFields()[name];
    return undefined;
  }

  /** The list size a field asks for: its `first`/`last` argument, a variable, or the argument's default. */
  private size(node: FieldNode, definition: GraphQLField<unknown, unknown>): number | undefined {
    for (const argumentName of SIZE_ARGUMENTS) {
      const argument = node.arguments?.find((a) => a.name.value === argumentName);
      let value: unknown;
      if (argument?.value.kind === Kind.INT) value = Number(argument.value.value);
      else if (argument?.value.kind === Kind.VARIABLE) {
        this.sizeVariables.add(argument.value.name.value);
        value = this.variables[argument.value.name.value];
      }
      if (value === undefined || value === null)
        value = definition.args.find((a) => a.name === argumentName)?.defaultValue;
      if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, value);
    }
    return undefined;
  }
}

interface IntrospectionSizes {
  /** Everything `__schema` can list. */
  readonly schema: number;
  /** What `__type` can list for the largest type. */
  readonly largestType: number;
}

const introspectionSizes = new WeakMap<GraphQLSchema, IntrospectionSizes>();

function sizeOf(type: GraphQLNamedType): number {
  let size = 1;
  if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) size += 1 + ('args' in field ? field.args.length : 0);
  }
  if (isEnumType(type)) size += type.getValues().length;
  return size;
}

/** The cost of one root introspection field, from the size of the schema (measured once per schema). */
function introspectionCost(schema: GraphQLSchema, field: string): number {
  let sizes = introspectionSizes.get(schema);
  if (!sizes) {
    const types = Object.values(schema.getTypeMap()).map(sizeOf);
    const directives = schema.getDirectives().reduce((sum, d) => sum + 1 + d.args.length, 0);
    sizes = { schema: types.reduce((a, b) => a + b, 0) + directives, largestType: Math.max(1, ...types) };
    introspectionSizes.set(schema, sizes);
  }
  if (field === SchemaMetaFieldDef.name) return sizes.schema;
  if (field === TypeMetaFieldDef.name) return sizes.largestType;
  return 0;
}

/** Depth, aliases and estimated cost of one operation of `document`. */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | undefined,
  defaultListSize: number,
): OperationMeasure {
  return walk(schema, document, operation, variables, defaultListSize).measure;
}

function walk(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | undefined,
  defaultListSize: number,
): { measure: OperationMeasure; sizeVariables: ReadonlySet<string> } {
  const root = schema.getRootType(operation.operation) ?? undefined;
  const walker = new Walker(schema, document, operation, variables, defaultListSize);
  return {
    measure: walker.selectionSet(operation.selectionSet, root, undefined, false),
    sizeVariables: walker.sizeVariables,
  };
}

/**
 * Measures by document: the pipeline measures every operation, and most requests repeat a
 * few documents. A measure depends on the schema, the document and operation (`documentKey`:
 * Apollo Server's query hash and the operation name) and the values of the variables that
 * size lists, so those values are part of the key. Bounded LRUs, one pair per schema (a new
 * supergraph starts empty; the old one's entries go with it).
 */
export class MeasureCache {
  private readonly bySchema = new WeakMap<
    GraphQLSchema,
    { sizeVariables: LRUCache<string, readonly string[]>; measures: LRUCache<string, OperationMeasure> }
  >();

  constructor(private readonly defaultListSize: number) {}

  measure(
    schema: GraphQLSchema,
    documentKey: string,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Readonly<Record<string, unknown>> | undefined,
  ): OperationMeasure {
    let caches = this.bySchema.get(schema);
    if (!caches) {
      caches = {
        sizeVariables: new LRUCache({ max: MEASURE_CACHE_ENTRIES }),
        measures: new LRUCache({ max: MEASURE_CACHE_ENTRIES }),
      };
      this.bySchema.set(schema, caches);
    }
    // A walk reads the same variables in the same order whenever those it read have the same
    // values, so a stored measure holds for any variables that agree with it on its names.
    const key = (names: readonly string[]) =>
      JSON.stringify([documentKey, names, names.map((name) => variables?.[name] ?? null)]);
    const names = caches.sizeVariables.get(documentKey);
    const known = names && caches.measures.get(key(names));
    if (known) return known;
    const { measure, sizeVariables } = walk(schema, document, operation, variables, this.defaultListSize);
    const read = [...sizeVariables];
    caches.sizeVariables.set(documentKey, read);
    caches.measures.set(key(read), measure);
    return measure;
  }
}

/** Throws QUERY_TOO_DEEP, TOO_MANY_ALIASES or QUERY_TOO_COSTLY (HTTP 400) when the operation is over a limit. */
export function checkLimits(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | undefined,
  limits: Pick<QueryLimitsConfig, 'maxDepth' | 'maxAliases' | 'maxCost' | 'defaultListSize'>,
  cached?: { readonly cache: MeasureCache; readonly documentKey: string },
): OperationMeasure {
  const measure = cached
    ? cached.cache.measure(schema, cached.documentKey, document, operation, variables)
    : measureOperation(schema, document, operation, variables, limits.defaultListSize);
  if (measure.depth > limits.maxDepth) {
    throw gatewayError('QUERY_TOO_DEEP', `query depth ${measure.depth} exceeds the limit of ${limits.maxDepth}`, {
      extensions: { depth: measure.depth, limit: limits.maxDepth },
    });
  }
  if (measure.introspectionListDepth > MAX_INTROSPECTION_LIST_DEPTH) {
    throw gatewayError(
      'QUERY_TOO_DEEP',
      `introspection nests ${measure.introspectionListDepth} list fields; the limit is ${MAX_INTROSPECTION_LIST_DEPTH}`,
      { extensions: { depth: measure.introspectionListDepth, limit: MAX_INTROSPECTION_LIST_DEPTH } },
    );
  }
  if (measure.aliases > limits.maxAliases) {
    throw gatewayError('TOO_MANY_ALIASES', `${measure.aliases} aliases exceed the limit of ${limits.maxAliases}`, {
      extensions: { aliases: measure.aliases, limit: limits.maxAliases },
    });
  }
  if (measure.cost > limits.maxCost) {
    throw gatewayError('QUERY_TOO_COSTLY', `estimated cost ${measure.cost} exceeds the budget of ${limits.maxCost}`, {
      extensions: { cost: measure.cost, limit: limits.maxCost },
    });
  }
  return measure;
}
