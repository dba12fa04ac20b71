/**
 * The metric names and label names a PromQL expression refers to: enough of PromQL to
 * check dashboards against the code (selectors, matchers, grouping clauses, functions,
 * operators), not a full parser. Anything it cannot place is reported as unknown, so an
 * unfamiliar construct fails the check rather than slipping through.
 */
export interface PromqlReferences {
  readonly metrics: string[];
  /** Labels in matchers and in by/without/on/ignoring/group_* clauses. */
  readonly labels: string[];
  /** Identifiers called like functions that PromQL does not have. */
  readonly unknownFunctions: string[];
}

const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'avg_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'count_over_time',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'idelta',
  'increase',
  'irate',
  'label_replace',
  'last_over_time',
  'ln',
  'max_over_time',
  'min_over_time',
  'predict_linear',
  'quantile_over_time',
  'rate',
  'resets',
  'round',
  'scalar',
  'sort',
  'sort_desc',
  'sqrt',
  'sum_over_time',
  'time',
  'timestamp',
  'vector',
  // aggregation operators
  'avg',
  'bottomk',
  'count',
  'count_values',
  'group',
  'max',
  'min',
  'quantile',
  'stddev',
  'stdvar',
  'sum',
  'topk',
]);
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

export function promqlReferences(expr: string): PromqlReferences {
  const labels: string[] = [];
  const metrics: string[] = [];
  const unknownFunctions: string[] = [];
  let rest = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, (_match, _keyword: string, list: string) => {
      labels.push(
        ...list
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
      );
      return ' ';
    });
  rest = rest.replace(/\{([^}]*)\}/g, (_match, matchers: string) => {
    for (const matcher of matchers.split(',')) {
      const name = /^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/.exec(matcher)?.[1];
      if (name) labels.push(name);
    }
    return ' ';
  });
  for (const match of rest.matchAll(/[a-zA-Z_:][\w:]*(\s*\()?/g)) {
    const name = match[0].replace(/\s*\($/, '');
    const called = match[1] !== undefined;
    // Part of a number such as 1e3: the identifier starts right after a digit.
    if (/\d/.test(rest[(match.index ?? 0) - 1] ?? '')) continue;
    if (called) {
      if (!FUNCTIONS.has(name)) unknownFunctions.push(name);
    } else if (!KEYWORDS.has(name) && !FUNCTIONS.has(name)) metrics.push(name);
  }
  return { metrics, labels, unknownFunctions };
}
