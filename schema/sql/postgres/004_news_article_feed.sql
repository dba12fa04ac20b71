-- Which kind of feed an article came from (NewsItem.feed: cryptopanic, rss, replay), so the
-- API can say that a replayed headline is history, not news published now. Null: stored
-- before this column existed.
ALTER TABLE news_articles ADD COLUMN IF NOT EXISTS feed TEXT;
