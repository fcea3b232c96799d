-- created_at is read only by range (the prune of old rows, a replay from a point in time) and
-- rises with the table's physical order: a BRIN index answers those ranges at a fraction of a
-- B-tree's cost, which every event paid twice (its insert, and the relay's non-HOT update).
drop index outbox_created_at;
create index outbox_created_at on outbox using brin (created_at);
