/** The supergraph composed with the subgraphs' real URLs, as Hive Gateway reads them from it. */
import { readFile } from 'node:fs/promises';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { SUBGRAPHS, subgraphSdlPath, type SubgraphName } from '../schema/subgraphs.ts';

export async function composeWithUrls(urls: Record<SubgraphName, string>): Promise<string> {
  const services = await Promise.all(
    SUBGRAPHS.map(async (name) => ({
      name,
      url: urls[name],
      typeDefs: parse(await readFile(subgraphSdlPath(name), 'utf8')),
    })),
  );
  const result = composeServices(services);
  if (result.errors) {
    throw new Error(`composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}
