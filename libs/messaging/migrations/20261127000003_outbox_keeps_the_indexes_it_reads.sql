-- Every index of the outbox is written twice per event: by the insert, and by the relay's
-- update of published_at, which leaves the pending index and so is never a HOT update. Two
-- of them were guards only, read by no query: position is an identity column, unique by
-- construction, and an aggregate's sequence comes from its aggregate_sequences row, which
-- the same statement locks and increments.
alter table outbox drop constraint outbox_position_key;
alter table outbox drop constraint outbox_aggregate_type_aggregate_id_sequence_key;
