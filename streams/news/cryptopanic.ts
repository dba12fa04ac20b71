/**
 * A CryptoPanic-style news API: GET {base}/api/v1/posts/?auth_token=KEY&public=true&kind=news
 * answers `{ count, next, previous, results: [{ id, title, url, published_at, domain,
 * source: { title, domain }, currencies: [{ code }] }] }`. Only the newest page is read on
 * each poll (the poller runs often enough that older pages were read before).
 */
import { z } from 'zod';
import { TickcastError } from '../../lib/errors.ts';
import type { NewsItem } from '../../schema/events.ts';
import { toNewsItem } from './article.ts';
import { conditionalGet, redact, type Validators } from './http.ts';
import { newsItemsRejected } from './metrics.ts';

const postSchema = z.object({
  id: z.union([z.number(), z.string()]),
  title: z.string(),
  url: z.string().nullish(),
  original_url: z.string().nullish(),
  published_at: z.string(),
  domain: z.string().nullish(),
  description: z.string().nullish(),
  source: z.object({ title: z.string().nullish(), domain: z.string().nullish() }).nullish(),
  currencies: z.array(z.object({ code: z.string() })).nullish(),
});

const postsResponseSchema = z.object({ results: z.array(z.unknown()) });

export interface CryptoPanicOptions {
  /** e.g. https://cryptopanic.com */
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs: number;
}

export class CryptoPanicClient {
  private validators: Validators = {};

  constructor(private readonly options: CryptoPanicOptions) {}

  get url(): string {
    const url = new URL('/api/v1/posts/', this.options.baseUrl);
    url.searchParams.set('auth_token', this.options.token);
    url.searchParams.set('public', 'true');
    url.searchParams.set('kind', 'news');
    return url.toString();
  }

  /**
   * The newest posts as news items. A post that does not parse is skipped and counted in
   * `rejected` rather than failing the whole page.
   */
  async fetchPosts(): Promise<{ items: NewsItem[]; rejected: number }> {
    const response = await conditionalGet(this.url, this.validators, {
      timeoutMs: this.options.timeoutMs,
      accept: 'application/json',
    });
    if (response.status === 'not-modified') return { items: [], rejected: 0 };
    let page: z.infer<typeof postsResponseSchema>;
    try {
      page = postsResponseSchema.parse(JSON.parse(response.body));
    } catch (cause) {
      throw new TickcastError('UPSTREAM_REJECTED', `${redact(this.url)} did not answer a posts page`, { cause });
    }
    this.validators = response.validators;
    const items: NewsItem[] = [];
    let rejected = 0;
    for (const raw of page.results) {
      const post = postSchema.safeParse(raw);
      const publishedAt = post.success ? Date.parse(post.data.published_at) : NaN;
      if (!post.success || Number.isNaN(publishedAt)) {
        rejected += 1;
        newsItemsRejected.inc({ feed: 'cryptopanic', reason: 'malformed' });
        continue;
      }
      try {
        items.push(
          toNewsItem({
            title: post.data.title,
            text: post.data.description ?? '',
            url: post.data.original_url ?? post.data.url ?? null,
            source: post.data.source?.title ?? post.data.source?.domain ?? post.data.domain ?? 'cryptopanic',
            feed: 'cryptopanic',
            publishedAt,
            sourceCoins: (post.data.currencies ?? []).map((c) => c.code.toUpperCase()),
          }),
        );
      } catch (error) {
        if (!(error instanceof TickcastError)) throw error;
        rejected += 1;
        newsItemsRejected.inc({ feed: 'cryptopanic', reason: 'malformed' });
      }
    }
    return { items, rejected };
  }
}
