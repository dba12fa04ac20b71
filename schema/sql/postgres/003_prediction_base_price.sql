-- Predictions keep the close they start from and the raw model output, so a pending
-- prediction can be read back whole and directional accuracy computed from the store.
-- IF NOT EXISTS: the predictions store's ensureSchema() applies the same statements.
ALTER TABLE predictions
  ADD COLUMN IF NOT EXISTS base_price DOUBLE PRECISION,
  ADD COLUMN IF NOT EXISTS predicted_log_return DOUBLE PRECISION;
CREATE INDEX IF NOT EXISTS predictions_pending_due ON predictions (target_time, id) WHERE actual_price IS NULL;
