// Every GraphQL document the dashboard sends, in one place. All go through the gateway's
// /graphql: queries over HTTP, subscriptions over graphql-ws.

const PREDICTION = `
  id
  horizonMinutes
  madeAt
  targetTime
  predictedPrice
  lowerBound
  upperBound
  actualPrice
  modelVersion { modelName version aliases }
`;

const CANDLE = 'openTime closeTime open high low close volume final';

export const MARKETS = `query DashboardMarkets { markets { pair base ticker { asOf } } }`;

export const MARKET = `query DashboardMarket($pair: ID!) {
  market(pair: $pair) {
    pair
    base
    ticker { last change24h high24h low24h volume24h asOf }
    latestFeatures(interval: "1m") { openTime close values { name value } }
  }
}`;

export const CANDLES = `query DashboardCandles($pair: ID!, $from: DateTime!, $first: Int!) {
  market(pair: $pair) {
    candles(interval: "1m", from: $from, first: $first) { edges { node { ${CANDLE} } } }
  }
}`;

export const PREDICTIONS = `query DashboardPredictions($pair: ID!, $first: Int!) {
  market(pair: $pair) { predictions(first: $first) { ${PREDICTION} } }
}`;

export const SENTIMENT = `query DashboardSentiment($pair: ID!, $coin: String!) {
  market(pair: $pair) {
    h1: sentiment(window: H1) { ...summary }
    h4: sentiment(window: H4) { ...summary }
    h24: sentiment(window: H24) { ...summary }
  }
  sentimentSignals(coin: $coin, first: 8) {
    score
    label
    confidence
    scorer
    createdAt
    article { title source url publishedAt replayed }
  }
}
fragment summary on SentimentSummary { window meanScore count bullishRatio bearishRatio asOf }`;

export const PERFORMANCE = `query DashboardPerformance($pair: String!) {
  modelPerformance(pair: $pair) {
    modelName
    version
    horizonMinutes
    count
    mae
    rmse
    directionalAccuracy
    intervalCoverage
    updatedAt
  }
  models {
    name
    champion { version metrics { mae baselineMae } }
    versions { version aliases metrics { mae baselineMae } }
  }
}`;

export const CANDLE_UPDATED = `subscription DashboardCandle($pair: ID!) {
  candleUpdated(pair: $pair, interval: "1m") { ${CANDLE} }
}`;

export const PREDICTION_CREATED = `subscription DashboardPrediction($pair: ID!) {
  predictionCreated(pair: $pair) { ${PREDICTION} }
}`;

export const INDICATORS_UPDATED = `subscription DashboardIndicators($pair: ID!) {
  indicatorsUpdated(pair: $pair, interval: "1m") { openTime close values { name value } }
}`;

export const MODEL_ALERT = `subscription DashboardModelAlert {
  modelAlert {
    pair
    horizonMinutes
    rollingMae
    trainingMae
    factor
    recommendation
    raisedAt
    modelVersion { modelName version }
  }
}`;
