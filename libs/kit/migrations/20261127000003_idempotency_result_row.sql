-- A command whose effect is one statement (idempotency::Single) stores the row that statement
-- returned, not an encoded response: the response is built from the row, the first time and
-- on a replay. `response` stays empty for such a command.
alter table idempotency_keys add column result jsonb;
