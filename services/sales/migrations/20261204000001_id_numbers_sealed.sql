-- Identity numbers are kept sealed (AES-256-GCM, with the id of the key that sealed them) and
-- compared by their keyed hash, never in clear (PIPL art. 51). The service seals rows written
-- by earlier releases at start-up and empties their plaintext column.
alter table customers
    add column id_number_hmac   text,
    add column id_number_key    text,
    add column id_number_sealed bytea;

alter table subscriptions
    add column id_number_hmac   text,
    add column id_number_key    text,
    add column id_number_sealed bytea,
    alter column id_number drop not null;

-- Not valid: rows of earlier releases wait for the start-up sealing, but no write from now on
-- may put a number in clear, nor leave one half sealed.
alter table customers
    add constraint customers_id_number_sealed
    check (id_number is null
           and (id_number_hmac is null) = (id_number_sealed is null)
           and (id_number_key is null) = (id_number_sealed is null)) not valid;

alter table subscriptions
    add constraint subscriptions_id_number_sealed
    check (id_number is null
           and id_number_hmac is not null and id_number_key is not null
           and id_number_sealed is not null) not valid;
