-- Every event of an aggregate updates its row here; last_sequence is not indexed, so with room
-- on the page the update stays there (HOT) instead of adding a primary-key entry each time.
alter table aggregate_sequences set (fillfactor = 70);
