-- A unit is imported once and then updated through its whole sale (held, subscribed,
-- contracted, released). None of those columns is indexed, so each update can stay on the
-- row's page (a HOT update: no new index entries) if the page has room. Imports fill pages
-- to the brim, which made every first hold rewrite the row elsewhere and add an entry to each
-- of the table's three indexes: leave a fifth of each new page free.
alter table units set (fillfactor = 80);
