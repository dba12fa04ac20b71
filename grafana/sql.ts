/**
 * The relations and columns a dashboard's SQL query reads, for checking them against the
 * DDL. Handles what Grafana's PostgreSQL panels use: SELECT ... FROM/JOIN with table
 * aliases, AS output names, casts, function calls, string literals and Grafana's macros.
 * An identifier it cannot place counts as a column, so an unknown word fails the check.
 */
export interface SqlReferences {
  readonly relations: string[];
  /** Columns, each with the relation alias it was qualified with, if any. */
  readonly columns: { readonly name: string; readonly qualifier?: string }[];
  /** alias -> relation */
  readonly aliases: ReadonlyMap<string, string>;
}

const KEYWORDS = new Set([
  'select',
  'distinct',
  'from',
  'join',
  'left',
  'inner',
  'on',
  'where',
  'and',
  'or',
  'not',
  'in',
  'is',
  'null',
  'between',
  'group',
  'order',
  'by',
  'asc',
  'desc',
  'limit',
  'as',
  'true',
  'false',
  'over',
  'partition',
  'case',
  'when',
  'then',
  'else',
  'end',
  'interval',
]);

/** Grafana macros replaced by what they stand for: the column they wrap, or a number. */
function expandMacros(sql: string): string {
  return sql
    .replace(/\$__time(?:Filter|GroupAlias|Group)\(\s*([^,)]+)[^)]*\)/g, ' $1 ')
    .replace(/\$__unixEpoch(?:From|To)\(\)/g, ' 0 ')
    .replace(/\$\w+/g, ' 0 ');
}

export function sqlReferences(query: string): SqlReferences {
  let sql = expandMacros(query.replace(/'(?:[^']|'')*'/g, "''"))
    .replace(/--[^\n]*/g, ' ')
    .replace(/::\s*(double precision|\w+)/gi, ' ');
  const relations: string[] = [];
  const aliases = new Map<string, string>();
  sql = sql.replace(
    /\b(FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(?!(?:WHERE|JOIN|ON|ORDER|GROUP|LIMIT|LEFT|INNER)\b)(\w+))?/gi,
    (_m, _k, relation: string, alias?: string) => {
      relations.push(relation.toLowerCase());
      if (alias) aliases.set(alias.toLowerCase(), relation.toLowerCase());
      return ' ';
    },
  );
  // Output names: ... AS name (not columns of any relation).
  sql = sql.replace(/\bAS\s+("[^"]+"|\w+)/gi, ' ');
  const columns: { name: string; qualifier?: string }[] = [];
  for (const match of sql.matchAll(/(?:(\w+)\.)?("[^"]+"|[a-zA-Z_]\w*)(\s*\()?/g)) {
    const [, qualifier, identifier, call] = match;
    if (call !== undefined || identifier === undefined) continue;
    if (/\d/.test(sql[(match.index ?? 0) - 1] ?? '')) continue;
    const quoted = identifier.startsWith('"');
    const name = quoted ? identifier.slice(1, -1) : identifier.toLowerCase();
    if (!quoted && KEYWORDS.has(name)) continue;
    columns.push(qualifier ? { name, qualifier: qualifier.toLowerCase() } : { name });
  }
  return { relations, columns, aliases };
}
